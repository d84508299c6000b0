-- Tags on links (a few short labels a user files links under, `GET
-- /urls?tag=`). Adding a column with a constant default rewrites nothing:
-- instant on any number of links. Tags do not change where a link
-- redirects, but a change still moves the link's version (harmless: the
-- record written through is the same).
ALTER TABLE urls ADD COLUMN tags text[] NOT NULL DEFAULT '{}';

"""A line chart as plain SVG text (standard library only): throughput against
connections on a log-2 x axis, one line per server, for the benchmark's
connections sweep (loadtest/scaling.py)."""

import html
import math

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 60, 70
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def nice_ceiling(value):
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def throughput_svg(title, subtitle, series, x_label="connections (log 2 scale)", y_label="requests per second"):
    """`series`: {name: [(connections, req/s), ...]} → the SVG document."""
    xs = sorted({x for points in series.values() for x, _ in points})
    if not xs:
        raise ValueError("nothing to chart")
    # Headroom above the highest point: the legend sits there.
    top = nice_ceiling(max(y for points in series.values() for _, y in points) * 1.25)
    lo, hi = math.log2(xs[0]), math.log2(xs[-1])
    span = hi - lo or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + (math.log2(x) - lo) / span * plot_w if hi > lo else LEFT + plot_w / 2

    def py(y):
        return TOP + plot_h - y / top * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">{html.escape(title)}</text>',
           f'<text x="{WIDTH / 2}" y="44" text-anchor="middle" fill="#555">{html.escape(subtitle)}</text>']
    # Horizontal grid and y ticks: five steps from 0 to the top.
    for step in range(6):
        value = top * step / 5
        y = py(value)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
    # x ticks at every measured connection count (powers of two).
    for x in xs:
        X = px(x)
        out.append(f'<line x1="{X:.1f}" y1="{TOP}" x2="{X:.1f}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{X:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{x}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 22}" text-anchor="middle">{html.escape(x_label)}</text>')
    out.append(f'<text x="22" y="{TOP + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 22 {TOP + plot_h / 2})">{html.escape(y_label)}</text>')
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(points))
        out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}">'
                       f'<title>{html.escape(name)}: {y:,.0f} req/s at {x} connections</title></circle>')
        # The legend, top right inside the plot.
        ly = TOP + 16 + index * 18
        lx = WIDTH - RIGHT - 190
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 30}" y="{ly}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"

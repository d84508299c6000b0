//! A private Postgres and Valkey, or a private Valkey Cluster, for one fault
//! drill, started and stopped with the project's own `scripts/deps.sh` and
//! `scripts/deps-cluster.sh`, so that a drill can stop, kill and restart
//! them without touching the dependencies other tests share.

use std::path::PathBuf;

/// Private dependencies in a temporary state directory.
pub struct PrivateDeps {
    state: PathBuf,
    pub server_url: String,
    pub redis_url: String,
}

fn deps_script() -> String {
    format!("{}/../scripts/deps.sh", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `deps.sh` (and `deps-cluster.sh`) functions in bash against `state`.
fn run(state: &PathBuf, calls: &str) {
    output(state, calls);
}

/// What `calls` printed.
fn output(state: &PathBuf, calls: &str) -> String {
    let script = format!(
        "source \"$0\"; source \"${{0%/*}}/deps-cluster.sh\"; deps_ensure_tools >/dev/null; {calls}"
    );
    let run = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(deps_script())
        .env("DEPS_DIR", state)
        .env("PG_DATABASE", "postgres")
        // The test command's own ports are in the environment; pick fresh ones.
        .env_remove("PG_PORT")
        .env_remove("VALKEY_PORT")
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run bash");
    assert!(run.status.success(), "deps.sh: {calls} failed");
    String::from_utf8_lossy(&run.stdout).into_owned()
}

/// A fresh temporary state directory the postgres user can enter.
fn state_dir(kind: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let state = std::env::temp_dir().join(format!(
        "urlshortener-{kind}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&state).expect("state dir");
    // The postgres user must be able to enter it when the tests run as root.
    let _ = std::process::Command::new("chmod")
        .arg("755")
        .arg(&state)
        .status();
    state
}

impl PrivateDeps {
    pub fn start() -> Self {
        let state = state_dir("drill");
        run(&state, "deps_start \"$DEPS_DIR\"");
        let env = std::fs::read_to_string(state.join("env")).expect("deps.sh wrote env");
        let value = |name: &str| {
            env.split_whitespace()
                .find_map(|word| word.strip_prefix(&format!("{name}=")))
                .map(|v| v.trim_matches('\'').to_owned())
                .unwrap_or_else(|| panic!("{name} in {env}"))
        };
        Self {
            server_url: value("DATABASE_URL"),
            redis_url: value("REDIS_URL"),
            state,
        }
    }

    pub fn stop_valkey(&self) {
        run(&self.state, "deps_stop_valkey \"$DEPS_DIR\"");
    }

    pub fn start_valkey(&self) {
        run(&self.state, "deps_start_valkey \"$DEPS_DIR\"");
    }

    pub fn stop_postgres(&self) {
        run(&self.state, "deps_stop_postgres \"$DEPS_DIR\"");
    }

    pub fn start_postgres(&self) {
        run(&self.state, "deps_start_postgres \"$DEPS_DIR\"");
    }
}

impl Drop for PrivateDeps {
    fn drop(&mut self) {
        run(&self.state, "deps_stop \"$DEPS_DIR\"");
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A private Valkey Cluster (three primaries, three replicas) for one drill.
pub struct PrivateCluster {
    state: PathBuf,
    /// Its nodes, comma-separated `host:port` (`REDIS_CLUSTER_NODES`).
    pub nodes: String,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let state = state_dir("cluster");
        let nodes = output(
            &state,
            "deps_start_valkey_cluster \"$DEPS_DIR\" >&2 && printf %s \"$REDIS_CLUSTER_NODES\"",
        );
        Self { state, nodes }
    }

    /// The node that is the primary of `key`'s slot now.
    pub fn primary_of(&self, key: &str) -> u32 {
        let node = output(
            &self.state,
            &format!("deps_cluster_primary_of \"$DEPS_DIR\" '{key}'"),
        );
        node.trim().parse().expect("a node number")
    }

    /// Kills `node` outright (SIGKILL).
    pub fn kill(&self, node: u32) {
        run(
            &self.state,
            &format!("deps_cluster_kill_node \"$DEPS_DIR\" {node}"),
        );
    }

    /// Waits until the cluster is whole again (a replica took over).
    pub fn until_whole(&self) {
        run(&self.state, "deps_cluster_wait_ok \"$DEPS_DIR\"");
    }

    /// Starts `node` again; it rejoins as a replica.
    pub fn restart(&self, node: u32) {
        run(
            &self.state,
            &format!("deps_cluster_restart_node \"$DEPS_DIR\" {node}"),
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        run(&self.state, "deps_stop_valkey_cluster \"$DEPS_DIR\"");
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

//! A private Postgres and Valkey for one fault drill, started and stopped
//! with the project's own `scripts/deps.sh`, so that a drill can stop and
//! restart them without touching the dependencies other tests share.

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

/// Runs `deps.sh` functions in bash against `state`.
fn run(state: &PathBuf, calls: &str) {
    let script = format!("source \"$0\"; deps_ensure_tools >/dev/null; {calls}");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(deps_script())
        .env("DEPS_DIR", state)
        .env("PG_DATABASE", "postgres")
        // The test command's own ports are in the environment; pick fresh ones.
        .env_remove("PG_PORT")
        .env_remove("VALKEY_PORT")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run bash");
    assert!(status.success(), "deps.sh: {calls} failed");
}

impl PrivateDeps {
    pub fn start() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let state =
            std::env::temp_dir().join(format!("urlshortener-drill-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&state).expect("state dir");
        // The postgres user must be able to enter it when the tests run as root.
        let _ = std::process::Command::new("chmod")
            .arg("755")
            .arg(&state)
            .status();
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

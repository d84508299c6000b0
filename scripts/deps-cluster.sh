# shellcheck shell=bash
# Library (source it after scripts/deps.sh) that starts a local Valkey/Redis
# Cluster of three primaries and three replicas -- six servers started by
# deps_start_valkey with cluster mode on, joined by `--cluster create` -- and
# the fault drills' controls: which node is the primary of a key, kill a node,
# bring it back (it rejoins as a replica of whoever took over).
#
#   source scripts/deps.sh; source scripts/deps-cluster.sh
#   deps_start_valkey_cluster "$dir"     # exports REDIS_CLUSTER_NODES
#   deps_cluster_primary_of "$dir" key   # prints the node number (1..6)
#   deps_cluster_kill_node "$dir" 3; deps_cluster_wait_ok "$dir"
#   deps_cluster_restart_node "$dir" 3
#   deps_stop_valkey_cluster "$dir"
#
# Layout: <dir>/cluster/node<N>/ is each server's deps_start_valkey state
# dir; <dir>/cluster/env holds the export of REDIS_CLUSTER_NODES.
#
# Environment: VALKEY_CLUSTER_NODE_TIMEOUT (ms a primary may be silent before
# its replica takes over; default 1000, quick for drills).

DEPS_CLUSTER_NODES=6

_deps_cluster_dir() { printf '%s/cluster/node%s\n' "$1" "$2"; }
_deps_cluster_port() { cat "$(_deps_cluster_dir "$1" "$2")/valkey.port"; }

# A free port for a cluster node: its bus listens 10000 higher, so both must
# be free, and both below the ephemeral range (17000-22767, buses 27000-32767).
_deps_cluster_free_port() {
  local port i
  for ((i = 0; i < 500; i++)); do
    port=$((17000 + RANDOM % 5768))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
      ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 10000))") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  _deps_err "could not find a free port pair for a cluster node"
  return 1
}

# Start node <n> of the cluster in <state> (its port is kept across restarts).
_deps_cluster_start_node() {
  local dir
  dir=$(_deps_cluster_dir "$1" "$2")
  mkdir -p "$dir" || return 1
  if [[ ! -s $dir/valkey.port ]]; then
    _deps_cluster_free_port >"$dir/valkey.port" || return 1
  fi
  (
    # shellcheck disable=SC2034 # read by deps_start_valkey
    DEPS_VALKEY_ARGS=(--cluster-enabled yes --cluster-config-file nodes.conf
      --cluster-node-timeout "${VALKEY_CLUSTER_NODE_TIMEOUT:-1000}"
      --repl-diskless-sync-delay 0)
    unset VALKEY_PORT
    deps_start_valkey "$dir"
  )
}

# Succeeds when every live node says the cluster is whole: state ok, every
# slot served, all six nodes known, and every live replica in sync with its
# primary (a replica that never synced cannot take over).
_deps_cluster_ok() {
  local state=$1 n port info
  for ((n = 1; n <= DEPS_CLUSTER_NODES; n++)); do
    [[ -n $(_deps_valkey_pid "$(_deps_cluster_dir "$state" "$n")") ]] || continue
    port=$(_deps_cluster_port "$state" "$n")
    info=$(timeout 5 "$VALKEY_CLI" -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | tr -d '\r') || return 1
    grep -q '^cluster_state:ok$' <<<"$info" || return 1
    grep -q '^cluster_slots_ok:16384$' <<<"$info" || return 1
    grep -q "^cluster_known_nodes:$DEPS_CLUSTER_NODES\$" <<<"$info" || return 1
    info=$(timeout 5 "$VALKEY_CLI" -h 127.0.0.1 -p "$port" info replication 2>/dev/null | tr -d '\r') || return 1
    if grep -q '^role:slave$' <<<"$info"; then
      grep -q '^master_link_status:up$' <<<"$info" || return 1
    fi
  done
}

# Wait (DEPS_TIMEOUT seconds) until the cluster is whole again.
deps_cluster_wait_ok() {
  local state deadline
  state=$(_deps_abs_dir "${1:?usage: deps_cluster_wait_ok <state_dir>}") || return 1
  deadline=$((SECONDS + ${DEPS_TIMEOUT:-60}))
  until _deps_cluster_ok "$state"; do
    if ((SECONDS >= deadline)); then
      _deps_err "the Valkey cluster in $state did not become whole"
      return 1
    fi
    sleep 0.1
  done
}

# Start six servers in cluster mode and join them: three primaries with one
# replica each. Exports REDIS_CLUSTER_NODES (every node, comma-separated).
deps_start_valkey_cluster() {
  local state n nodes=() known
  state=$(_deps_abs_dir "${1:?usage: deps_start_valkey_cluster <state_dir>}") || return 1
  _deps_require_tools || return 1
  for ((n = 1; n <= DEPS_CLUSTER_NODES; n++)); do
    _deps_cluster_start_node "$state" "$n" || return 1
    nodes+=("127.0.0.1:$(_deps_cluster_port "$state" "$n")")
  done
  known=$("$VALKEY_CLI" -h 127.0.0.1 -p "$(_deps_cluster_port "$state" 1)" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
  if [[ $known != "$DEPS_CLUSTER_NODES" ]]; then
    _deps_log "creating the Valkey cluster: ${nodes[*]}"
    "$VALKEY_CLI" --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$state/cluster/create.log" 2>&1 || {
      _deps_err "redis-cli --cluster create failed"
      _deps_tail "$state/cluster/create.log"
      return 1
    }
  fi
  deps_cluster_wait_ok "$state" || return 1
  REDIS_CLUSTER_NODES=$(
    IFS=,
    printf '%s' "${nodes[*]}"
  )
  export REDIS_CLUSTER_NODES
  printf 'export REDIS_CLUSTER_NODES=%q\n' "$REDIS_CLUSTER_NODES" >"$state/cluster/env"
}

# Stop every node of the cluster in <state> (no-op for nodes not running).
deps_stop_valkey_cluster() {
  local state n rc=0
  [[ -d ${1:?usage: deps_stop_valkey_cluster <state_dir>}/cluster ]] || return 0
  state=$(_deps_abs_dir "$1") || return 0
  for ((n = 1; n <= DEPS_CLUSTER_NODES; n++)); do
    deps_stop_valkey "$(_deps_cluster_dir "$state" "$n")" || rc=1
  done
  return "$rc"
}

# Print the number of the node that is now the primary for <key>'s slot.
deps_cluster_primary_of() {
  local state=$1 key=$2 n port slot role
  for ((n = 1; n <= DEPS_CLUSTER_NODES; n++)); do
    [[ -n $(_deps_valkey_pid "$(_deps_cluster_dir "$state" "$n")") ]] || continue
    port=$(_deps_cluster_port "$state" "$n")
    slot=$("$VALKEY_CLI" -h 127.0.0.1 -p "$port" cluster keyslot "$key") || return 1
    role=$("$VALKEY_CLI" -h 127.0.0.1 -p "$port" role | head -n 1)
    if [[ $role == master ]] && _deps_cluster_serves "$port" "$slot"; then
      printf '%s\n' "$n"
      return 0
    fi
  done
  _deps_err "no live primary serves the slot of $key"
  return 1
}

# Succeeds when the node on <port> lists slot <slot> among its own ranges.
_deps_cluster_serves() {
  local port=$1 slot=$2 range first last
  for range in $("$VALKEY_CLI" -h 127.0.0.1 -p "$port" cluster nodes | tr -d '\r' | awk '/myself/ { for (i = 9; i <= NF; i++) print $i }'); do
    [[ $range == \[* ]] && continue
    first=${range%-*}
    last=${range#*-}
    if ((slot >= first && slot <= last)); then return 0; fi
  done
  return 1
}

# Kill node <n> outright (SIGKILL: no shutdown, no goodbye to the cluster).
deps_cluster_kill_node() {
  local pid
  pid=$(_deps_valkey_pid "$(_deps_cluster_dir "$1" "$2")")
  [[ -n $pid ]] || return 0
  _deps_log "killing Valkey cluster node $2 (pid $pid)"
  kill -KILL "$pid"
  _deps_wait_gone "$pid" 10
}

# Start node <n> again on its port; it rejoins as a replica.
deps_cluster_restart_node() {
  local state
  state=$(_deps_abs_dir "$1") || return 1
  _deps_cluster_start_node "$state" "$2" || return 1
  deps_cluster_wait_ok "$state"
}

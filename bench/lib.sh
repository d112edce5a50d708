# Shared by the bench scripts (sourced, not run).
#
# bench_workdir NAME: a fresh work directory $work with the lab's state directory $state in it.
# The directory is searchable by others because the lab's mail servers run as their own users;
# on exit, whatever happens, the lab is stopped (needs $mt, the mailtrust binary) and the
# directory removed.
bench_workdir() {
    work=$(mktemp -d "/tmp/mailtrust-$1.XXXXXX")
    chmod 755 "$work"
    state="$work/state"
    trap '"$mt" lab down --state "$state" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
}

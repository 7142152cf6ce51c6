"""The stores box: DBA-owned schema deployment and reachability of every configured database."""

// Package audit keeps the record of every decision Bridle makes and of what
// Envoy reported about the request that followed, in SQLite, and answers
// queries over it.
//
// Two sources feed it:
//
//   - The decision service writes one Record per Check (allow and deny)
//     through a Writer. Write never blocks: records go to a bounded queue that
//     one goroutine drains in batched transactions. When the queue is full a
//     record is dropped, counted and reported in a rate-limited error log.
//   - Envoy's gRPC access log (ALS) reports status, duration and bytes for
//     requests carrying a decision_id in the ext_authz dynamic metadata. The
//     ALS hands those to the same Writer as Responses.
//
// The join on decision_id happens when reading: records and responses live in
// two tables and every query left-joins them. Neither side waits for the other,
// so an access-log entry that arrives before its decision record (or whose
// record was dropped) is kept, nothing is held in memory, and a restart loses
// nothing that was committed. A record is complete without its response:
// Envoy's log is best effort.
//
// Only metadata is stored (DESIGN §4 invariant 6). Record has no field for
// bodies, credentials, authorization, cookies or arbitrary headers; request
// headers are copied from an allowlist (SetHeaders), and query and matrix
// parameter values whose names look sensitive are replaced (redact.Path)
// before a path reaches the database.
//
// Retention deletes records and responses older than RetentionDays (Cleanup,
// RunRetention). Query pages newest first by (time, decision_id); Follow
// returns records in insertion order for `bridle logs --follow`.
package audit

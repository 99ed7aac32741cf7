// Package stub is the verifying stub resolver behind `ddnrs stub`: a
// small DNS server for a laptop, server or container (/etc/resolv.conf
// points at it) that answers names of DDNRS zones from DDNRS nodes it
// does not trust, and every other name from configured upstreams.
//
// For a name under a zone it holds the owner's key of (pinned, or
// learnt from the registry's transparency log), it asks the entry
// nodes with the proofs option (EDNS 65002) and accepts an answer only
// once client.Verifier.VerifyResponse has checked the zone's signed
// head, the Merkle proof and every RRSIG against that key, and that the
// zone's serial is not below the highest it has seen (the floor).
// Entry nodes come from its configuration or from the log's
// node-admission entries (their DNS address and region); they are
// ranked by measured latency and failures, same-region first. A query
// goes to the best node and is hedged to the next after a delay that
// follows the measured latency (at most 100 ms); a node that does not
// answer, answers badly or lies (an answer that does not verify) is
// passed over at once and ranked last for a while, so one dead,
// stalled or lying node costs a query at most one hedge delay.
//
// Verified answers carry AD; nothing else does. They are cached in
// memory and on disk (data directory, cache.db), stored as the node
// sent them, proofs included, and verified again when loaded, so an
// altered cache file is noticed and its entries dropped; the serial
// floors persist in serials.json (internal/floorfile). Names outside
// DDNRS go to the upstreams (package forward) when configured, else
// REFUSED. Logs and metrics (ddnrs_stub_answers_total{path}) say which
// answers were verified.
//
// It sits beside api (rank 4, docs/architecture.md "Layers"): it
// imports client, forward and translog of DDNRS.
package stub

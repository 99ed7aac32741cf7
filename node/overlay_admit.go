package node

// overlay_admit.go: the configuration of overlay admission ([overlay]
// admit, issue 14 item 3); the admission itself is intergroup.Admission.

import (
	"fmt"
)

// Values of [overlay] admit.
const (
	// AdmitDirectory accepts only the node directory's peers.
	AdmitDirectory = "directory"
	// AdmitAny accepts any peer that speaks the overlay's protocols; the
	// answers it relays are still verified against the owners' keys.
	AdmitAny = "any"
)

// overlayAdmit returns the effective admission mode: Admit, or when
// unset, AdmitDirectory for a node that follows the registry's log and
// AdmitAny for one that has no directory to admit by.
func (c Config) overlayAdmit() string {
	switch {
	case c.Overlay.Admit != "":
		return c.Overlay.Admit
	case c.Registry.LogVerifier != "":
		return AdmitDirectory
	default:
		return AdmitAny
	}
}

// validateAdmit checks [overlay] admit against the rest of the
// configuration.
func (c Config) validateAdmit() []error {
	switch c.Overlay.Admit {
	case "", AdmitAny:
	case AdmitDirectory:
		if c.Registry.LogVerifier == "" {
			return []error{fmt.Errorf("overlay.admit = %q needs the registry's log to learn the directory from: set [registry] log_verifier (and urls, or member)", AdmitDirectory)}
		}
	default:
		return []error{fmt.Errorf("overlay.admit: %q, want %q (only the registry's node directory) or %q (any peer)", c.Overlay.Admit, AdmitDirectory, AdmitAny)}
	}
	return nil
}

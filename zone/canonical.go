package zone

import (
	"encoding/base64"
	"strings"

	"github.com/miekg/dns"
)

// CanonicalName returns name lower-cased and fully qualified, the form every
// map key and comparison in this package uses (RFC 4034 §6.2).
func CanonicalName(name string) string {
	return dns.CanonicalName(name)
}

// Compare orders two domain names in canonical DNS order (RFC 4034 §6.1):
// label by label from the root, each label compared as lower-cased octets,
// a name sorting before the names below it. It returns -1, 0 or +1.
// Both names must be in presentation form; escapes (\DDD, \.) are decoded.
func Compare(a, b string) int {
	if a == b {
		return 0
	}
	if !strings.ContainsRune(a, '\\') && !strings.ContainsRune(b, '\\') {
		return comparePlain(a, b)
	}
	la := splitLabels(a)
	lb := splitLabels(b)
	i, j := len(la)-1, len(lb)-1
	for i >= 0 && j >= 0 {
		if c := compareLabel(la[i], lb[j]); c != 0 {
			return c
		}
		i--
		j--
	}
	switch {
	case i < 0 && j < 0:
		return 0
	case i < 0:
		return -1
	default:
		return 1
	}
}

// IsSubDomain reports whether child is at or below parent. Both must be
// canonical (CanonicalName). Unlike dns.IsSubDomain it does not allocate;
// the answer path calls it on every query.
func IsSubDomain(parent, child string) bool {
	switch {
	case parent == child || parent == ".":
		return true
	case len(child) <= len(parent) || !strings.HasSuffix(child, parent):
		return false
	}
	// The byte before the suffix must be a label separator, not an
	// escaped dot ("a\\.example." is not below "example.").
	i := len(child) - len(parent) - 1
	if child[i] != '.' {
		return false
	}
	n := 0
	for j := i - 1; j >= 0 && child[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

// comparePlain is Compare for names without escapes, label by label from
// the right, without allocating: it runs on every negative answer.
func comparePlain(a, b string) int {
	a = strings.TrimSuffix(a, ".")
	b = strings.TrimSuffix(b, ".")
	for a != "" && b != "" {
		var la, lb string
		a, la = lastLabel(a)
		b, lb = lastLabel(b)
		if c := compareLabel(la, lb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	default:
		return 1
	}
}

// lastLabel splits name into the part before its last label and that
// label.
func lastLabel(name string) (rest, label string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// splitLabels returns the decoded labels of name, leftmost first, without
// the root label.
func splitLabels(name string) []string {
	if name == "." || name == "" {
		return nil
	}
	if !strings.ContainsRune(name, '\\') {
		name = strings.TrimSuffix(name, ".")
		return strings.Split(name, ".")
	}
	var labels []string
	var cur []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]):
			cur = append(cur, (name[i+1]-'0')*100+(name[i+2]-'0')*10+(name[i+3]-'0'))
			i += 3
		case c == '\\' && i+1 < len(name):
			cur = append(cur, name[i+1])
			i++
		case c == '.':
			labels = append(labels, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) > 0 {
		labels = append(labels, string(cur))
	}
	return labels
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func compareLabel(a, b string) int {
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	for k := 0; k < n; k++ {
		ca, cb := lower(a[k]), lower(b[k])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func mustBase64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

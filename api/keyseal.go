package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// The key collected once (issue 12 item 6; docs/architecture.md, "The
// sealed API key"). An applicant's status token is their secret: an
// X25519 key pair is derived from it, and the registry keeps only the
// token's SHA-256 and the public key (raftfsm.Application.SealTo). The
// approval seals the new API key to that public key, so the Raft log,
// snapshots and the transparency log hold only sealed bytes; the status
// page, given the token, opens them, and shows the key once the
// collection (raftfsm.CollectKey, which erases them) has committed.
//
// Sealed key, version 1 (ECIES over X25519):
//
//	byte      version (1)
//	32 bytes  ephemeral X25519 public key E
//	rest      AES-256-GCM of the key string, nonce 12 zero bytes (each
//	          AES key seals one message), additional data the
//	          application id
//
// The AES key is HKDF-SHA256 (RFC 5869) of the X25519 shared secret,
// salt E || the applicant's public key, info "ddnrs-key-seal/1 " and the
// application id, 32 bytes. The applicant's private key is HKDF-SHA256
// of the status token (its bytes as given), no salt, info
// "ddnrs-status-token-x25519/1", 32 bytes.

const sealVersion1 = 1

// ErrSealedKey is returned by openKey when the sealed key does not open
// with the token: a wrong token, or bytes that are not a sealed key.
var ErrSealedKey = errors.New("the sealed key does not open with this token")

// tokenKey derives the applicant's X25519 key pair from a status token.
func tokenKey(token string) (*ecdh.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, []byte(token), nil, "ddnrs-status-token-x25519/1", 32)
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(seed)
}

// sealTo returns the public key the registry keeps for token.
func sealTo(token string) ([32]byte, error) {
	var out [32]byte
	k, err := tokenKey(token)
	if err != nil {
		return out, err
	}
	copy(out[:], k.PublicKey().Bytes())
	return out, nil
}

// sealAEAD is the AES-256-GCM of shared, for an ephemeral share eph
// sent to recipient, bound to application id.
func sealAEAD(shared, eph, recipient []byte, id string) (cipher.AEAD, error) {
	salt := append(append([]byte{}, eph...), recipient...)
	k, err := hkdf.Key(sha256.New, shared, salt, "ddnrs-key-seal/1 "+id, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealKey seals key for the applicant whose public key is to, bound to
// application id.
func sealKey(to [32]byte, id, key string) ([]byte, error) {
	recipient, err := ecdh.X25519().NewPublicKey(to[:])
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(recipient)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	aead, err := sealAEAD(shared, eph.PublicKey().Bytes(), to[:], id)
	if err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion1}, eph.PublicKey().Bytes()...)
	return aead.Seal(out, make([]byte, aead.NonceSize()), []byte(key), []byte(id)), nil
}

// openKey opens a sealed key of application id with the status token.
func openKey(token, id string, sealed []byte) (string, error) {
	if len(sealed) < 1+32+16 || sealed[0] != sealVersion1 {
		return "", fmt.Errorf("%w: not a version %d sealed key", ErrSealedKey, sealVersion1)
	}
	priv, err := tokenKey(token)
	if err != nil {
		return "", err
	}
	ephPub, err := ecdh.X25519().NewPublicKey(sealed[1:33])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSealedKey, err)
	}
	shared, err := priv.ECDH(ephPub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrSealedKey, err)
	}
	aead, err := sealAEAD(shared, sealed[1:33], priv.PublicKey().Bytes(), id)
	if err != nil {
		return "", err
	}
	plain, err := aead.Open(nil, make([]byte, aead.NonceSize()), sealed[33:], []byte(id))
	if err != nil {
		return "", ErrSealedKey
	}
	return string(plain), nil
}

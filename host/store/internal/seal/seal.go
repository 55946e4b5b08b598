// Package seal encrypts secrets before they are written to a database
// (AES-256-GCM, random nonce). Each ciphertext names the key that sealed it,
// so keys can rotate: new writes use the primary key, old rows still open
// with the retired keys. It must never log or return plain text in errors.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// prefix marks sealed values; the key id follows it.
const prefix = "enc:v1:"

// Sealer seals with a primary key and opens with any known key.
type Sealer struct {
	primaryID string
	aeads     map[string]cipher.AEAD
}

// KeyID is the public identifier of a key: the first 8 hex digits of its SHA-256.
func KeyID(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:4])
}

// New returns a Sealer that seals with primary and also opens values sealed
// with any of retired. Every key must be 32 bytes (AES-256).
func New(primary []byte, retired ...[]byte) (*Sealer, error) {
	s := &Sealer{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{primary}, retired...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("seal: encryption key %d must be 32 bytes, got %d", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(k)
		if i == 0 {
			s.primaryID = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// Seal encrypts plain. The empty string stays empty: there is nothing to hide
// and it keeps "no secret" distinguishable without a key.
func (s *Sealer) Seal(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	aead := s.aeads[s.primaryID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(plain), nil)
	return prefix + s.primaryID + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value produced by Seal with any known key.
func (s *Sealer) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", errors.New("seal: value is not sealed")
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("seal: malformed sealed value")
	}
	aead, ok := s.aeads[id]
	if !ok {
		return "", fmt.Errorf("seal: unknown key id %s (key rotated away?)", id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("seal: malformed sealed value")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("seal: cannot decrypt (wrong key or tampered value)")
	}
	return string(plain), nil
}

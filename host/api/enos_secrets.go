package api

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// EnOS requireSecret: deviceSecret and sessionKey are returned encrypted
// with the calling service account's RSA public key, so only the holder of
// the private key can read them, and nothing that logs or caches the
// response (proxies, the idempotency record) holds them in the clear.
//
// Scheme: RSA-OAEP with SHA-256 as both the OAEP hash and the MGF1 hash,
// empty label; each value is the base64 (standard, padded) of one
// ciphertext:
//
//	deviceSecret = base64(RSA-OAEP-SHA256(publicKey, deviceSecret))
//	sessionKey   = base64(RSA-OAEP-SHA256(publicKey, 16 random bytes))
//
// OAEP rather than PKCS #1 v1.5 because v1.5 encryption is open to padding
// oracle attacks; SHA-256 because it is what current clients default to
// (Java "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" must then be given
// MGF1ParameterSpec.SHA256 explicitly, as Java defaults MGF1 to SHA-1).
//
// The session key is a fresh random 16-byte (AES-128) key per device. onboard
// does not store it and never uses it itself: it is handed to the caller,
// once, as a key for the device's session — e.g. to protect the device
// secret on its way to the device. The deviceSecret does not need it: it is
// encrypted with the RSA key directly.

const sessionKeyLen = 16

type secretSealer struct{ pub *rsa.PublicKey }

type sealedSecrets struct{ deviceSecret, sessionKey string }

// newSecretSealer accepts a PEM "PUBLIC KEY" (PKIX, what openssl and the
// EnOS console produce) or "RSA PUBLIC KEY" (PKCS #1).
func newSecretSealer(publicKeyPEM string) (*secretSealer, error) {
	block, _ := pem.Decode([]byte(publicKeyPEM))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T is not an RSA key", pub)
	}
	// OAEP-SHA256 needs 2×32+2 bytes of overhead; the secret must fit too.
	if rsaPub.Size() < 2*sha256.Size+2+deviceSecretLen {
		return nil, fmt.Errorf("a %d-bit RSA key is too small", rsaPub.N.BitLen())
	}
	return &secretSealer{pub: rsaPub}, nil
}

func (s *secretSealer) seal(deviceSecret string) (*sealedSecrets, error) {
	session := make([]byte, sessionKeyLen)
	mustRead(session)
	ds, err := s.encrypt([]byte(deviceSecret))
	if err != nil {
		return nil, err
	}
	sk, err := s.encrypt(session)
	if err != nil {
		return nil, err
	}
	return &sealedSecrets{deviceSecret: ds, sessionKey: sk}, nil
}

func (s *secretSealer) encrypt(msg []byte) (string, error) {
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, s.pub, msg, nil)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// mustRead fills b from crypto/rand, which never fails on supported
// platforms (Go 1.24+ crashes the program rather than return an error).
func mustRead(b []byte) { _, _ = rand.Read(b) }

// CheckServiceAccountKey says why publicKeyPEM cannot seal requireSecret
// secrets, or nil: `onboard account` refuses such a key when it is given,
// not at the first batch that needs it.
func CheckServiceAccountKey(publicKeyPEM string) error {
	_, err := newSecretSealer(publicKeyPEM)
	return err
}

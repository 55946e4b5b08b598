package seal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSealRotate(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s1, err := New(k1)
	require.NoError(t, err)
	a, err := s1.Seal("hunter2")
	require.NoError(t, err)
	b, err := s1.Seal("hunter2")
	require.NoError(t, err)
	require.NotEqual(t, a, b, "random nonce")
	require.True(t, strings.HasPrefix(a, "enc:v1:"+KeyID(k1)+":"))
	require.NotContains(t, a, "hunter2")

	// rotate: new primary k2, k1 retired but still opens old values
	s2, err := New(k2, k1)
	require.NoError(t, err)
	p, err := s2.Open(a)
	require.NoError(t, err)
	require.Equal(t, "hunter2", p)
	c, err := s2.Seal("x")
	require.NoError(t, err)
	require.Contains(t, c, KeyID(k2))
	_, err = s1.Open(c)
	require.ErrorContains(t, err, "unknown key id")

	tampered := a[:len(a)-2] + "AA"
	_, err = s1.Open(tampered)
	require.Error(t, err)
	_, err = New([]byte("short"))
	require.Error(t, err)
	empty, err := s1.Seal("")
	require.NoError(t, err)
	require.Empty(t, empty)
}

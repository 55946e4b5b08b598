package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/provision/provisiontest"
)

// TestServeProvisionListener: --provision-addr starts the mutual-TLS
// listener next to the API, with a self-signed server certificate kept in
// the data dir, and a device of an unknown CA is told so.
func TestServeProvisionListener(t *testing.T) {
	dataDir := t.TempDir()
	lines := startServe(t, dataDir, "--provision-addr", "127.0.0.1:0")
	var provURL string
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "onboard provisioning (mutual TLS) on "); ok {
			provURL, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	require.NotEmpty(t, provURL)
	drain(lines)
	_, err := os.Stat(filepath.Join(dataDir, provision.ServerCertFile))
	require.NoError(t, err)

	ca := provisiontest.NewCA(t, "CA")
	dev := ca.Issue(t, map[string]string{"CN": "d1"}, provisiontest.Options{})
	cfg := provisiontest.ClientTLS(dev, nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Post(provURL+"/v5/iot/p1/devices/onboard-bootstrap", "application/json", nil)
	require.NoError(t, err)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body["error_msg"], "does not chain to any device CA certificate of project p1")
	// startServe's cleanup stops the server and checks it exits 0.
}

package conformance

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The kit is a black box: it imports the standard library, the schemas, the
// native engine (to judge response bodies) and the engine's contract,
// and links neither the server it checks nor a store or SQL driver. (Its
// tests may: they start a real onboard.)
func TestKitLinksNoServer(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command runs the tests, so it is on PATH")
	goList := func(args ...string) []string {
		out, err := exec.Command(goCmd, append([]string{"list"}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.Fields(string(out))
	}
	const module = "github.com/onboardhq/onboard/"
	for _, pkg := range goList("-deps", ".") {
		for _, banned := range []string{module + "host/api", module + "host/store", "github.com/jackc/pgx", "sqlite"} {
			assert.NotContains(t, pkg, banned, "the kit links %s", pkg)
		}
	}
	imports := goList("-f", `{{join .Imports " "}}`, ".")
	require.NotEmpty(t, imports)
	for _, pkg := range imports {
		switch {
		case !strings.Contains(strings.Split(pkg, "/")[0], "."): // the standard library
		case pkg == module+"schemas", pkg == module+"plugins/engine":
		case strings.HasPrefix(pkg, module) && !strings.ContainsAny(strings.TrimPrefix(pkg, module), "/"):
			// a top-level package of the module: the engine's contract
		default:
			t.Errorf("the kit imports %s: only the standard library, the schemas, the engine and its contract are allowed", pkg)
		}
	}
}

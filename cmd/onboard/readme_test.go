package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeCommand is one `onboard …` command line of a README code block.
type readmeCommand struct {
	line int
	text string
	args []string // after "onboard"
}

// readmeCommands extracts the onboard command lines from the shell code
// blocks of the README: continuation lines are joined, comments, prompts
// ("$ "), environment assignments and "./bin/" are stripped, and each
// segment of a && / | / ; chain that runs onboard counts.
func readmeCommands(t *testing.T, readme string) []readmeCommand {
	t.Helper()
	f, err := os.Open(readme)
	require.NoError(t, err)
	defer f.Close()
	var cmds []readmeCommand
	sc := bufio.NewScanner(f)
	inBlock, shell := false, false
	n, start := 0, 0
	var pending string
	for sc.Scan() {
		n++
		raw := sc.Text()
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "```") {
			inBlock = !inBlock
			lang := strings.TrimPrefix(trimmed, "```")
			shell = inBlock && (lang == "" || lang == "sh" || lang == "bash" || lang == "shell" || lang == "console")
			pending = ""
			continue
		}
		if !inBlock || !shell {
			continue
		}
		if pending == "" {
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		for _, seg := range shellSegments(t, full, start) {
			if len(seg) > 0 && seg[0] == "onboard" {
				cmds = append(cmds, readmeCommand{line: start, text: full, args: seg[1:]})
			}
		}
	}
	require.NoError(t, sc.Err())
	return cmds
}

// shellSegments splits a command line into words per command of a chain,
// honouring quotes and stopping at a comment.
func shellSegments(t *testing.T, line string, lineNo int) [][]string {
	line = strings.TrimPrefix(line, "$ ")
	var segs [][]string
	var words []string
	var w strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	flushSeg := func() {
		flushWord()
		// Leading VAR=value assignments and a ./bin/ path are not the command.
		for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			words = words[1:]
		}
		if len(words) > 0 {
			words[0] = strings.TrimPrefix(words[0], "./bin/")
			segs = append(segs, words)
		}
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				t.Errorf("README line %d: unbalanced quote in %q", lineNo, line)
				return nil
			}
			w.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '#' && !inWord:
			flushSeg()
			return segs
		case c == ' ' || c == '\t':
			flushWord()
		case c == '|' || c == ';' || c == '&':
			flushSeg()
			if i+1 < len(line) && (line[i+1] == '|' || line[i+1] == '&') {
				i++
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flushSeg()
	return segs
}

// commandFlags returns the FlagSet command creates, with all its flags
// defined, by running it with -h (after its subcommand words); nil when the
// command takes no flags.
func commandFlags(t *testing.T, name string, sub []string) *flag.FlagSet {
	t.Helper()
	var c *command
	for i := range commands {
		if commands[i].name == name {
			c = &commands[i]
		}
	}
	if c == nil {
		return nil
	}
	var fs *flag.FlagSet
	flagSetHook = func(f *flag.FlagSet) { fs = f }
	defer func() { flagSetHook = nil }()
	c.run(context.Background(), append(append([]string{}, sub...), "-h"), strings.NewReader(""), io.Discard, io.Discard)
	if fs != nil {
		fs.SetOutput(io.Discard)
	}
	return fs
}

func isCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return name == "help"
}

// checkReadmeCommand reports what is wrong with one README command line.
func checkReadmeCommand(t *testing.T, c readmeCommand) error {
	if len(c.args) == 0 {
		return fmt.Errorf("no command")
	}
	name := c.args[0]
	if !isCommand(name) {
		return fmt.Errorf("unknown command %q", name)
	}
	rest := c.args[1:]
	var sub []string
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") && (name == "token" || name == "key" || name == "account" || name == "enos-product") {
		sub, rest = append(sub, rest[0]), rest[1:]
	}
	fs := commandFlags(t, name, sub)
	if fs == nil {
		for _, a := range rest {
			if strings.HasPrefix(a, "-") && a != "-" {
				return fmt.Errorf("%s takes no flags, the README gives %s", name, a)
			}
		}
		return nil
	}
	if err := fs.Parse(rest); err != nil {
		return fmt.Errorf("flags do not parse: %v", err)
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && a != "-" {
			return fmt.Errorf("flag %s comes after an argument, so it is not parsed as a flag", a)
		}
	}
	return nil
}

// TestReadmeCommands keeps the README from rotting: every onboard command
// line in its code blocks must name a real command with flags that parse,
// every command must appear in it, and the ones that need no server or
// placeholder run for real.
func TestReadmeCommands(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	cmds := readmeCommands(t, filepath.Join(root, "README.md"))
	require.NotEmpty(t, cmds)
	seen := map[string]bool{}
	for _, c := range cmds {
		if err := checkReadmeCommand(t, c); err != nil {
			t.Errorf("README.md:%d: %s\n\t%s", c.line, err, c.text)
		}
		if len(c.args) > 0 {
			seen[c.args[0]] = true
		}
	}
	for _, c := range commands {
		assert.True(t, seen[c.name], "command %q is not shown in any README code block", c.name)
	}

	// Run the commands that need no server: credentials against a fresh
	// data dir, and the engine commands on files that exist. Exit 2 (a
	// usage error) fails; validate may answer 1 (the sample is invalid).
	t.Chdir(readmeWorkDir(t, root, cmds))
	t.Setenv("ONBOARD_DATA_DIR", t.TempDir())
	t.Setenv("ONBOARD_DATABASE_URL", "")
	t.Setenv("ONBOARD_ENCRYPTION_KEY", "")
	ran := 0
	for _, c := range cmds {
		if len(c.args) == 0 || !runnable(c.args) {
			continue
		}
		code, out, errOut := onboard(t, "", c.args...)
		ran++
		if code == exitUsage || (code != exitOK && c.args[0] != "validate") {
			t.Errorf("README.md:%d: onboard %s: exit %d\n%s%s", c.line, strings.Join(c.args, " "), code, out, errOut)
		}
	}
	t.Logf("checked %d README command lines, ran %d of them", len(cmds), ran)
	assert.GreaterOrEqual(t, ran, 6, "the README's runnable commands")
}

// runnable says whether a README command runs as written: no placeholder
// (upper-case words, $VARS) and every file it names exists.
func runnable(args []string) bool {
	switch args[0] {
	case "ops", "openapi", "token", "key", "account", "enos-product", "validate", "resolve":
	default:
		return false // serve blocks; conform and import need a server
	}
	for _, a := range args[1:] {
		if strings.Contains(a, "$") || a == strings.ToUpper(a) && strings.IndexFunc(a, func(r rune) bool { return r >= 'A' && r <= 'Z' }) >= 0 {
			return false
		}
		if strings.HasSuffix(a, ".json") || strings.HasSuffix(a, ".pem") {
			if _, err := os.Stat(a); err != nil {
				return false
			}
		}
	}
	return true
}

func TestReadmeCheckCatchesRot(t *testing.T) {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	require.NoError(t, os.WriteFile(readme, []byte("# x\n\n```sh\n"+
		"onboard serve --addr 127.0.0.1:0 --log-json   # fine\n"+
		"onboard frobnicate --all\n"+
		"onboard import --org o1 --product p --colour red devices.csv\n"+
		"onboard import --org o1 --product p --batch many devices.csv\n"+
		"ONBOARD_ADDR=x ./bin/onboard validate FILE --json\n"+
		"onboard openapi --yaml\n"+
		"onboard token create --project p1 \\\n  --json\n"+
		"```\n"), 0o644))
	cmds := readmeCommands(t, readme)
	require.Len(t, cmds, 7)
	var errs []string
	for _, c := range cmds {
		err := checkReadmeCommand(t, c)
		errs = append(errs, fmt.Sprint(err))
	}
	assert.Equal(t, "<nil>", errs[0])
	assert.Contains(t, errs[1], `unknown command "frobnicate"`)
	assert.Contains(t, errs[2], "flag provided but not defined: -colour")
	assert.Contains(t, errs[3], `invalid value "many"`)
	assert.Contains(t, errs[4], "flag --json comes after an argument")
	assert.Contains(t, errs[5], "flag provided but not defined: -yaml", "openapi takes no flags")
	assert.Equal(t, "<nil>", errs[6])
	assert.Equal(t, []string{"token", "create", "--project", "p1", "--json"}, cmds[6].args)
}

// readmeWorkDir is a directory that mirrors the repository (a symlink per
// entry) plus the key files the README makes with openssl before `onboard
// account` names them, so those commands run as written.
func readmeWorkDir(t *testing.T, root string, cmds []readmeCommand) string {
	t.Helper()
	work := t.TempDir()
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		require.NoError(t, os.Symlink(filepath.Join(root, e.Name()), filepath.Join(work, e.Name())))
	}
	for _, c := range cmds {
		for _, a := range c.args {
			if !strings.HasSuffix(a, ".pub.pem") || strings.Contains(a, "/") {
				continue
			}
			if _, err := os.Stat(filepath.Join(work, a)); err == nil {
				continue
			}
			der, err := x509.MarshalPKIXPublicKey(&rsaKeys()[0].PublicKey)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(work, a), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
		}
	}
	return work
}

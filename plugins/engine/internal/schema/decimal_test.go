package schema

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDecimal(t *testing.T) {
	cases := []struct {
		raw       string
		integer   bool
		canonical string
	}{
		{"0", true, "0"}, {"-0", true, "0"}, {"0.000e5", true, "0"},
		{"1", true, "1e0"}, {"1.0", true, "1e0"}, {"10e-1", true, "1e0"}, {"100", true, "1e2"},
		{"1.5", false, "15e-1"}, {"-1.50", false, "-15e-1"}, {"1e400", true, "1e400"},
		{"1e-400", false, "1e-400"}, {"123.456e3", true, "123456e0"}, {"123.456e2", false, "123456e-1"},
		{"1e1000000000000", true, "1e10000000000"}, // the exponent saturates past 2^30; the value class stays right
		{"0.0001e4", true, "1e0"}, {"5E+2", true, "5e2"},
	}
	for _, c := range cases {
		assert.Equal(t, c.integer, isInteger([]byte(c.raw)), "isInteger(%s)", c.raw)
		assert.Equal(t, c.canonical, canonicalNumber([]byte(c.raw)), "canonical(%s)", c.raw)
	}
	order := []string{"-1e1000000", "-1e400", "-2", "-1.5", "-1e-400", "0", "1e-1000000", "1e-400", "0.5", "1", "1.0000001", "2", "10", "1e400", "1e1000000"}
	for i := range order {
		for j := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			got := parseDecimal([]byte(order[i])).compare(parseDecimal([]byte(order[j])))
			assert.Equal(t, want, got, "compare(%s, %s)", order[i], order[j])
		}
	}
}

// compare agrees with math/big wherever math/big is affordable.
func TestDecimalAgreesWithBigRat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() string {
		s := ""
		if rng.IntN(2) == 0 {
			s = "-"
		}
		s += strconv.Itoa(rng.IntN(1000))
		if rng.IntN(2) == 0 {
			s += "." + strconv.Itoa(rng.IntN(1000))
		}
		if rng.IntN(2) == 0 {
			s += "e" + strconv.Itoa(rng.IntN(20)-10)
		}
		return s
	}
	for range 20000 {
		a, b := gen(), gen()
		ra, _ := new(big.Rat).SetString(a)
		rb, _ := new(big.Rat).SetString(b)
		if !assert.Equal(t, ra.Cmp(rb), parseDecimal([]byte(a)).compare(parseDecimal([]byte(b))), "compare(%s, %s)", a, b) {
			return
		}
		assert.Equal(t, ra.IsInt(), isInteger([]byte(a)), "isInteger(%s)", a)
	}
}

package schema

import "strconv"

// decimal is a JSON number read from its text: value = ±digits × 10^scale,
// where digits has no leading or trailing zeros. Numbers are compared and
// tested for integrality on this form, never with math/big: big.Rat
// expands an exponent in full, so 1e1000000 (ten bytes) cost 40 ms
// natively and ten times that in Wasm, and a hundred of them in a CES
// instance_ids list (uniqueItems) held an engine instance for 2 s natively,
// past the host's call timeout in Wasm.
type decimal struct {
	zero, neg bool
	digits    string // significant digits
	scale     int    // saturates at ±(1<<30)
}

// magnitude is the exponent of the leading digit plus one: the value lies
// in [10^(m-1), 10^m).
func (d decimal) magnitude() int { return d.scale + len(d.digits) }

// parseDecimal reads raw, a valid JSON number.
func parseDecimal(raw []byte) decimal {
	var d decimal
	i := 0
	if i < len(raw) && raw[i] == '-' {
		d.neg = true
		i++
	}
	var mant []byte
	frac := 0
	for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
		mant = append(mant, raw[i])
	}
	if i < len(raw) && raw[i] == '.' {
		for i++; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
			mant = append(mant, raw[i])
			frac++
		}
	}
	exp := 0
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		negExp := false
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			negExp = raw[i] == '-'
			i++
		}
		for ; i < len(raw); i++ {
			if exp < 1<<30 {
				exp = exp*10 + int(raw[i]-'0')
			}
		}
		if negExp {
			exp = -exp
		}
	}
	start, end := 0, len(mant)
	for start < end && mant[start] == '0' {
		start++
	}
	for end > start && mant[end-1] == '0' {
		end--
	}
	if start == end {
		d.zero = true
		return d
	}
	d.digits = string(mant[start:end])
	d.scale = exp - frac + (len(mant) - end)
	return d
}

// isInteger follows JSON Schema: 1.0 and 1e2 are integers.
func isInteger(raw []byte) bool {
	d := parseDecimal(raw)
	return d.zero || d.scale >= 0
}

// compare orders two numbers by sign, magnitude and digits: exact, and
// never the big-integer arithmetic that 1e1000000 would cost.
func (d decimal) compare(o decimal) int {
	if c := d.sign() - o.sign(); c != 0 || d.zero {
		return max(-1, min(1, c))
	}
	c := 0
	switch {
	case d.magnitude() != o.magnitude():
		c = 1
		if d.magnitude() < o.magnitude() {
			c = -1
		}
	case d.digits < o.digits: // no trailing zeros: "12" < "123" as 0.12 < 0.123
		c = -1
	case d.digits > o.digits:
		c = 1
	}
	return c * d.sign()
}

func (d decimal) sign() int {
	switch {
	case d.zero:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// canonicalNumber is a number's text in one form per value (uniqueItems):
// 1.0, 1e0 and 10e-1 all read "1e0".
func canonicalNumber(raw []byte) string {
	d := parseDecimal(raw)
	if d.zero {
		return "0"
	}
	s := d.digits + "e" + strconv.Itoa(d.scale)
	if d.neg {
		return "-" + s
	}
	return s
}

package connectors

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// extractForm copies the selected fields of an application/x-www-form-
// urlencoded text (a query string or a form body) into params. malformed is
// the sentinel for invalid encoding (ErrInvalidPath for a query,
// ErrBodyUnparseable for a body).
//
// Parameter pollution is refused rather than resolved, since servers differ
// (first wins, last wins, array): a selected key given twice, a key that
// differs from a selected one only in letter case, a selected key with a
// "[...]" suffix (Rack reads "amount[]" as an array) and a raw ';' (older
// servers split on it too) are all ErrAmbiguous.
func extractForm(raw string, fields []field, params map[string]any, malformed error) error {
	if len(fields) == 0 || raw == "" {
		return nil
	}
	if strings.IndexByte(raw, ';') >= 0 {
		return fmt.Errorf("%w: raw ';' in form data", ErrAmbiguous)
	}
	var seen uint64
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := percentDecode(k, true)
		if err != nil {
			return fmt.Errorf("%w: form key: %w", malformed, err)
		}
		i, err := formLookup(fields, key)
		if err != nil {
			return err
		}
		if i < 0 {
			continue
		}
		if seen&(1<<i) != 0 {
			return fmt.Errorf("%w: form key %q appears twice", ErrAmbiguous, key)
		}
		seen |= 1 << i
		val, err := percentDecode(v, true)
		if err != nil {
			return fmt.Errorf("%w: form value of %s: %w", malformed, key, err)
		}
		if !utf8.ValidString(val) {
			return fmt.Errorf("%w: form value of %s is not UTF-8", malformed, key)
		}
		x, err := textValue(&fields[i], val)
		if err != nil {
			return fmt.Errorf("%w: %w", malformed, err)
		}
		if err := setParam(params, fields[i].param, x); err != nil {
			return err
		}
	}
	return nil
}

// formLookup returns the index of the field key selects, -1 for none, or
// ErrAmbiguous when key is a near miss of a selected field.
func formLookup(fields []field, key string) (int, error) {
	for i := range fields {
		if fields[i].formKey == key {
			return i, nil
		}
	}
	for i := range fields {
		fk := fields[i].formKey
		if strings.EqualFold(key, fk) ||
			len(key) > len(fk) && key[len(fk)] == '[' && strings.EqualFold(key[:len(fk)], fk) {
			return -1, fmt.Errorf("%w: form key %q shadows the selected field %s", ErrAmbiguous, key, fk)
		}
	}
	return -1, nil
}

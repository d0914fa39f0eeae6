package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// checkNoDTD refuses XML with a document type declaration, an entity
// declaration or any other <!…> directive, and processing instructions other
// than the XML declaration, before anything parses it into a tree. SAML never
// needs them, and a DTD is how entity expansion ("billion laughs") and
// external entity attacks get in. Go's encoding/xml (under etree and
// goxmldsig) does not expand entities declared in a DTD, and crewjam/saml's
// round-trip validation lets a DOCTYPE through, so Gatehouse refuses them
// itself rather than rely on what each parser happens to ignore.
func checkNoDTD(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			kind := strings.Fields(string(t))
			name := "<!…>"
			if len(kind) > 0 {
				name = "<!" + truncate(kind[0], 20)
			}
			return fmt.Errorf("XML with a DTD or entity declaration (%s) is refused", name)
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("XML processing instruction <?%s?> is refused", truncate(t.Target, 40))
			}
		}
	}
}

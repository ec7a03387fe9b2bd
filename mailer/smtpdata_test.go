package mailer

import (
	"bufio"
	"bytes"
	mrand "math/rand/v2"
	"net/textproto"
	"strings"
	"testing"
)

// writeData puts the same bytes on the wire as net/textproto's DotWriter,
// the one go-mail's Data hands out: CRLF line ends, leading dots doubled,
// the final "." line from the DotWriter's Close.
func TestWriteDataIsTheDotWriters(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	pieces := []string{"a", ".", "..", "\r\n", "\n", "x.y", "\r\n.", "\n.", "Zeile ü", "=2E"}
	cases := []string{"", ".", "\r\n", "a", "a\r\n", ".\r\n", "a\n", "\n", "..\r\n.\r\n", "From: a\r\n\r\n.body\r\n.\r\n"}
	for range 5000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		cases = append(cases, b.String())
	}
	for _, msg := range cases {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		if _, err := dw.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}

		var got bytes.Buffer
		tw = textproto.NewWriter(bufio.NewWriter(&got))
		dw = tw.DotWriter()
		if err := writeData(tw.W, dw, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := dw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("writeData(%q) = %q, DotWriter %q", msg, got.Bytes(), want.Bytes())
		}
	}
}

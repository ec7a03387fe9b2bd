package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestEachMboxMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"one", "From a@b Mon Mar  2 07:00:00 2026\nSubject: x\n\nbody\n", []string{"Subject: x\n\nbody"}},
		{"two, mboxrd quoting undone", "From a@b Mon\nSubject: 1\n\n>From here\n>>From there\n\nFrom c@d Tue\nSubject: 2\n\nzwei\n",
			[]string{"Subject: 1\n\nFrom here\n>From there\n", "Subject: 2\n\nzwei"}},
		{"From inside a paragraph is no separator", "From a@b Mon\nSubject: 1\n\ntext\nFrom me to you\n",
			[]string{"Subject: 1\n\ntext\nFrom me to you"}},
		{"CRLF", "From a@b Mon\r\nSubject: 1\r\n\r\neins\r\n\r\nFrom c@d Tue\r\nSubject: 2\r\n\r\nzwei\r\n",
			[]string{"Subject: 1\r\n\r\neins\r\n", "Subject: 2\r\n\r\nzwei"}},
		{"no final newline", "From a@b Mon\nSubject: 1\n\neins", []string{"Subject: 1\n\neins"}},
		{"empty", "", nil},
	} {
		var got []string
		err := eachMboxMessage(bufio.NewReaderSize(strings.NewReader(tc.in), 16), func(name string, raw []byte) error {
			got = append(got, string(raw))
			return nil
		})
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

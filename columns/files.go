package columns

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
	"unicode/utf8"
)

// MaxFileSize is the largest column file read: a column is a few pages of
// text, and a bigger file is a mistake that would cost memory in every
// campaign, archive page and preview.
const MaxFileSize = 10 << 20

// parseFile reads and parses one column file; see Parse. Only a regular
// file is read: a symbolic link, a directory, a FIFO or a device in the
// columns folder is refused with a *ParseError naming it, so nothing outside
// the folder (say /etc/shadow) can become a column, and reading never hangs.
func parseFile(path string, loc *time.Location) (*Column, error) {
	data, err := readColumnFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, loc)
}

// readColumnFile reads path if it is a regular file of at most
// MaxFileSize bytes (see readRegular).
func readColumnFile(path string) ([]byte, error) {
	return readRegular(path, MaxFileSize, func(size int64) error { return tooLarge(path, size) })
}

// readRegular reads path if it is a regular file of at most limit bytes;
// tooBig makes the error for a larger one. The check uses Lstat, so a link
// is never followed, and the file opened must be the file checked, so one
// swapped in between is refused rather than read. Column files and a local
// feed file are read through it alike.
func readRegular(path string, limit int64, tooBig func(size int64) error) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	if err := checkRegular(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, tooBig(fi.Size())
	}
	f, err := openChecked(path, fi)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	if int64(len(data)) > limit { // it grew after the check
		return nil, tooBig(int64(len(data)))
	}
	return data, nil
}

// checkRegular refuses anything but a regular file.
func checkRegular(path string, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		return &ParseError{File: path, Msg: "is a symbolic link: only regular files are read (copy the file itself there instead)"}
	case !m.IsRegular():
		return &ParseError{File: path, Msg: fmt.Sprintf("is not a regular file (%s): only regular text files are read", kindOf(m))}
	}
	return nil
}

// kindOf names a non-regular file type in the author's words.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "type " + m.Type().String()
	}
}

func tooLarge(path string, size int64) error {
	return &ParseError{File: path, Msg: fmt.Sprintf("is larger than %d MiB (%d bytes): too large for a column", MaxFileSize>>20, size)}
}

// openChecked opens path for reading and makes sure it is still the regular
// file that checked describes. Where the system has them, the open follows
// no symbolic link and does not wait for a writer (a FIFO swapped in).
func openChecked(path string, checked fs.FileInfo) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		// O_NOFOLLOW fails on a link swapped in (ELOOP on Linux, other
		// errors elsewhere): say what happened rather than the errno.
		if now, lerr := os.Lstat(path); lerr == nil && (now.Mode()&fs.ModeSymlink != 0 || !os.SameFile(checked, now)) {
			return nil, changed(path)
		}
		return nil, err // *fs.PathError names the file
	}
	now, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !now.Mode().IsRegular() || !os.SameFile(checked, now) {
		f.Close()
		return nil, changed(path)
	}
	return f, nil
}

func changed(path string) error {
	return &ParseError{File: path, Msg: "changed while it was being read (replaced by another file or a symbolic link): not read"}
}

// checkText finds the first thing in data that text does not contain:
// invalid UTF-8, a NUL byte, or a control character other than TAB, LF, CR
// and form feed (C0, DEL and C1 alike: escape sequences, the bytes of a
// binary file). It returns its 1-based line, counted as splitLines counts,
// and why; why is "" for text.
func checkText(data []byte) (line int, why string) {
	line = 1
	for i := 0; i < len(data); {
		b := data[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '\n':
				line++
			case b == '\r':
				if i+1 >= len(data) || data[i+1] != '\n' {
					line++
				}
			case b == '\t' || b == '\f':
			case b == 0:
				return line, "it contains a NUL byte (binary content never becomes a column)"
			case b < 0x20 || b == 0x7f:
				return line, fmt.Sprintf("it contains the control character U+%04X (binary content never becomes a column)", b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return line, "it is not valid UTF-8 (save it as UTF-8 text)"
		}
		if r >= 0x80 && r <= 0x9f {
			return line, fmt.Sprintf("it contains the control character U+%04X (binary content never becomes a column)", r)
		}
		i += size
	}
	return line, ""
}

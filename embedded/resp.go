package embedded

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// protocolError is a malformed request; the connection is closed after it.
type protocolError string

func (e protocolError) Error() string { return string(e) }

const (
	maxArgs    = 1 << 20
	maxBulkLen = 512 << 20 // Valkey's proto-max-bulk-len default
)

// readCommand reads one request: a RESP array of bulk strings, or an inline
// command line (what valkey-cli and telnet send).
func readCommand(r *bufio.Reader, scratch *[]byte) ([]string, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, nil
	}
	if line[0] != '*' {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n > maxArgs {
		return nil, protocolError("invalid multibulk length")
	}
	if n <= 0 {
		return nil, nil
	}
	args := make([]string, 0, n)
	for range n {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 || line[0] != '$' {
			return nil, protocolError(fmt.Sprintf("expected '$', got '%.1s'", line))
		}
		size, err := strconv.Atoi(line[1:])
		if err != nil || size < 0 || size > maxBulkLen {
			return nil, protocolError("invalid bulk length")
		}
		if cap(*scratch) < size+2 {
			*scratch = make([]byte, size+2)
		}
		buf := (*scratch)[:size+2]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if buf[size] != '\r' || buf[size+1] != '\n' {
			return nil, protocolError("bulk string not terminated by CRLF")
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// replyKind is the RESP type of a reply from a nested command.
type replyKind uint8

const (
	kindStatus replyKind = iota
	kindError
	kindInt
	kindBulk
	kindNull // RESP2 nil bulk or nil array, RESP3 null
	kindArray
	kindMap // elems holds key, value, key, value...
	kindSet
	kindDouble
	kindBool
	kindBigNumber
	kindVerbatim // str holds the text, format the 3-letter format
)

// reply is a parsed RESP2/RESP3 reply.
type reply struct {
	kind   replyKind
	str    string
	format string
	num    int64
	dbl    float64
	elems  []reply
}

var errShortReply = errors.New("embedded: truncated reply")

// parseReply parses one reply from b and returns the rest of b.
func parseReply(b []byte) (reply, []byte, error) {
	i := indexCRLF(b)
	if i < 1 {
		return reply{}, nil, errShortReply
	}
	head, body, rest := b[0], string(b[1:i]), b[i+2:]
	switch head {
	case '+':
		return reply{kind: kindStatus, str: body}, rest, nil
	case '-':
		return reply{kind: kindError, str: body}, rest, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		return reply{kind: kindInt, num: n}, rest, err
	case '_':
		return reply{kind: kindNull}, rest, nil
	case '#':
		return reply{kind: kindBool, num: boolNum(body == "t")}, rest, nil
	case ',':
		f, err := parseDouble(body)
		return reply{kind: kindDouble, dbl: f, str: body}, rest, err
	case '(':
		return reply{kind: kindBigNumber, str: body}, rest, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil {
			return reply{}, nil, err
		}
		if n < 0 {
			return reply{kind: kindNull}, rest, nil
		}
		if len(rest) < n+2 {
			return reply{}, nil, errShortReply
		}
		s := string(rest[:n])
		rest = rest[n+2:]
		switch head {
		case '=':
			format, text, _ := strings.Cut(s, ":")
			return reply{kind: kindVerbatim, str: text, format: format}, rest, nil
		case '!':
			return reply{kind: kindError, str: s}, rest, nil
		}
		return reply{kind: kindBulk, str: s}, rest, nil
	case '*', '%', '~', '>':
		n, err := strconv.Atoi(body)
		if err != nil {
			return reply{}, nil, err
		}
		if n < 0 {
			return reply{kind: kindNull}, rest, nil
		}
		kind := kindArray
		count := n
		switch head {
		case '%':
			kind, count = kindMap, 2*n
		case '~':
			kind = kindSet
		}
		elems := make([]reply, 0, count)
		for range count {
			var e reply
			e, rest, err = parseReply(rest)
			if err != nil {
				return reply{}, nil, err
			}
			elems = append(elems, e)
		}
		return reply{kind: kind, elems: elems}, rest, nil
	}
	return reply{}, nil, fmt.Errorf("embedded: unknown reply type %q", head)
}

func boolNum(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func parseDouble(s string) (float64, error) {
	switch s {
	case "inf":
		s = "+Inf"
	case "-inf":
		s = "-Inf"
	case "nan", "-nan":
		s = "NaN"
	}
	return strconv.ParseFloat(s, 64)
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

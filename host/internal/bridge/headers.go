package bridge

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net"
	"net/http"
	"sort"

	"golang.org/x/net/http/httpguts"

	pb "github.com/streambench/host/internal/gen/pluginapiv1"
)

// validateHeaders rejects response headers net/http would otherwise send
// mangled or that could split the response: names that are not RFC 7230
// tokens, values with CR, LF, NUL or other control characters.
func validateHeaders(headers []*pb.HTTPHeader) error {
	for _, h := range headers {
		if !httpguts.ValidHeaderFieldName(h.GetKey()) {
			return fmt.Errorf("header name %q is not a valid token", h.GetKey())
		}
		for _, v := range h.GetValues() {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("header %q has a value with control characters (CR, LF, NUL...): %q", h.GetKey(), v)
			}
		}
	}
	return nil
}

// requestInit is the first ServeHTTPRequest's metadata, the one place the
// plugin's request headers are built. r.URL is already prefix-stripped by the
// router; RequestURI stays what the client sent. A client-supplied
// Mattermost-User-Id or X-Sendfile-Type is dropped: only the server sets
// them. With offload on, X-Sendfile-Type: X-Sendfile tells the plugin it may
// answer with X-Sendfile instead of the file's bytes.
func requestInit(r *http.Request, offload bool) *pb.ServeHTTPRequestInit {
	headers := make([]*pb.HTTPHeader, 0, len(r.Header)+1)
	for key, values := range r.Header {
		switch http.CanonicalHeaderKey(key) {
		case UserIDHeader, SendfileTypeHeader:
			continue
		}
		headers = append(headers, &pb.HTTPHeader{Key: key, Values: values})
	}
	if offload {
		headers = append(headers, &pb.HTTPHeader{Key: SendfileTypeHeader, Values: []string{SendfileHeader}})
	}
	sort.Slice(headers, func(i, j int) bool { return headers[i].Key < headers[j].Key })

	contentLength := r.ContentLength
	if contentLength < 0 || (contentLength == 0 && hasBody(r.Body)) {
		contentLength = -1 // unknown (chunked upload)
	}
	return &pb.ServeHTTPRequestInit{
		PluginContext: &pb.PluginContext{
			RequestId:      newRequestID(),
			IpAddress:      clientIP(r.RemoteAddr),
			AcceptLanguage: r.Header.Get("Accept-Language"),
			UserAgent:      r.UserAgent(),
		},
		Method:        r.Method,
		Url:           r.URL.RequestURI(),
		Proto:         r.Proto,
		ProtoMajor:    int32(r.ProtoMajor),
		ProtoMinor:    int32(r.ProtoMinor),
		Headers:       headers,
		Host:          r.Host,
		RemoteAddr:    r.RemoteAddr,
		RequestUri:    r.RequestURI,
		ContentLength: contentLength,
	}
}

var requestIDEncoding = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// newRequestID is 26 characters like Mattermost's model.NewId.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return requestIDEncoding.EncodeToString(b[:])
}

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

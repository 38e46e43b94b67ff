package acsidentity

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ConnectionString is a parsed ACS connection string. Its String method
// never shows the access key.
type ConnectionString struct {
	// Endpoint is the resource's endpoint, such as
	// https://contoso.communication.azure.com/.
	Endpoint string
	// AccessKey is the resource's base64 access key. It is a secret.
	AccessKey string
}

// String returns the connection string with the access key redacted.
func (c ConnectionString) String() string {
	return "endpoint=" + c.Endpoint + ";accesskey=REDACTED"
}

// GoString returns the same as String, so that %#v does not show the key.
func (c ConnectionString) GoString() string { return c.String() }

// ErrInvalidConnectionString is wrapped by every error ParseConnectionString returns.
var ErrInvalidConnectionString = errors.New("invalid connection string")

// ParseConnectionString parses a connection string of the form
// "endpoint=https://<resource>.communication.azure.com/;accesskey=<base64 key>",
// as the Azure portal shows it.
//
// Part names are matched case-insensitively and may come in any order;
// whitespace around names and values is trimmed and one trailing ";" is
// accepted. A missing, empty, duplicate or unknown part, an endpoint that is
// not an http(s) URL without path, query or fragment, or an access key that is
// not base64 is an error that names the part. No error contains the access key
// or the connection string.
func ParseConnectionString(connectionString string) (ConnectionString, error) {
	var cs ConnectionString
	s := strings.TrimSpace(connectionString)
	if s == "" {
		return cs, fmt.Errorf("acsidentity: %w: it is empty; the form is endpoint=https://<resource>.communication.azure.com/;accesskey=<key>", ErrInvalidConnectionString)
	}
	s = strings.TrimSuffix(s, ";")
	var haveEndpoint, haveKey bool
	n := 0
	for part := range strings.SplitSeq(s, ";") {
		n++
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		switch {
		case strings.TrimSpace(part) == "":
			return cs, fmt.Errorf("acsidentity: %w: part %d is empty", ErrInvalidConnectionString, n)
		case !ok:
			// The part may be a mangled key: name only its position.
			return cs, fmt.Errorf("acsidentity: %w: part %d has no '='; the form is endpoint=<url>;accesskey=<key>", ErrInvalidConnectionString, n)
		case strings.EqualFold(name, "endpoint"):
			if haveEndpoint {
				return cs, fmt.Errorf("acsidentity: %w: endpoint is given twice", ErrInvalidConnectionString)
			}
			if value == "" {
				return cs, fmt.Errorf("acsidentity: %w: endpoint is empty", ErrInvalidConnectionString)
			}
			haveEndpoint = true
			cs.Endpoint = value
		case strings.EqualFold(name, "accesskey"):
			if haveKey {
				return cs, fmt.Errorf("acsidentity: %w: accesskey is given twice", ErrInvalidConnectionString)
			}
			if value == "" {
				return cs, fmt.Errorf("acsidentity: %w: accesskey is empty", ErrInvalidConnectionString)
			}
			haveKey = true
			cs.AccessKey = value
		default:
			// An unknown name may be a fragment of a key: name only its position.
			return cs, fmt.Errorf("acsidentity: %w: part %d has an unknown name; only endpoint and accesskey are allowed", ErrInvalidConnectionString, n)
		}
	}
	if !haveEndpoint {
		return cs, fmt.Errorf("acsidentity: %w: endpoint is missing", ErrInvalidConnectionString)
	}
	if !haveKey {
		return cs, fmt.Errorf("acsidentity: %w: accesskey is missing", ErrInvalidConnectionString)
	}
	if _, err := parseEndpoint(cs.Endpoint, false); err != nil {
		return ConnectionString{}, fmt.Errorf("acsidentity: %w: %w", ErrInvalidConnectionString, err)
	}
	if _, err := decodeAccessKey(cs.AccessKey); err != nil {
		return ConnectionString{}, fmt.Errorf("acsidentity: %w: accesskey is not valid base64", ErrInvalidConnectionString)
	}
	return cs, nil
}

// parseEndpoint checks that endpoint is an absolute http(s) URL with a host,
// no user info, query or fragment, and (unless allowPath) no path beyond "/".
// A path is allowed for endpoints given directly, such as a gateway that
// forwards a path prefix to the resource; the portal's connection strings
// never have one. The result has no trailing slash. Its errors do not quote
// the endpoint: in a mangled connection string it may hold part of the key.
func parseEndpoint(endpoint string, allowPath bool) (*url.URL, error) {
	if endpoint == "" {
		return nil, errors.New("endpoint is empty")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, errors.New("endpoint is not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return nil, errors.New("endpoint must be an http or https URL, such as https://<resource>.communication.azure.com/")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("endpoint has no host")
	}
	if u.User != nil {
		return nil, errors.New("endpoint must not carry user information")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("endpoint must not have a query or fragment")
	}
	if !allowPath && u.Path != "" && u.Path != "/" {
		return nil, errors.New("endpoint must not have a path beyond \"/\"")
	}
	u.Scheme = scheme
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = strings.TrimSuffix(u.RawPath, "/")
	return u, nil
}

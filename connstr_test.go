package acsidentity

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseConnectionString(t *testing.T) {
	t.Parallel()
	const key = testKey
	valid := []struct{ in, endpoint string }{
		{"endpoint=https://contoso.communication.azure.com/;accesskey=" + key, "https://contoso.communication.azure.com/"},
		{"Endpoint=https://contoso.communication.azure.com;AccessKey=" + key, "https://contoso.communication.azure.com"},
		{"ACCESSKEY=" + key + ";ENDPOINT=https://contoso.communication.azure.com/", "https://contoso.communication.azure.com/"},
		{"  endpoint = https://contoso.communication.azure.com/ ;  accessKey = " + key + " ; ", "https://contoso.communication.azure.com/"},
		{"endpoint=https://contoso.communicationservices.azure.com:443/;accesskey=" + key + ";", "https://contoso.communicationservices.azure.com:443/"},
		{"endpoint=http://127.0.0.1:10780/;accesskey=" + key, "http://127.0.0.1:10780/"},
	}
	for _, tc := range valid {
		cs, err := ParseConnectionString(tc.in)
		if err != nil {
			t.Errorf("%q: %v", redact(tc.in), err)
			continue
		}
		if cs.Endpoint != tc.endpoint || cs.AccessKey != key {
			t.Errorf("%q: got endpoint %q", redact(tc.in), cs.Endpoint)
		}
	}
	invalid := []struct{ in, names string }{
		{"", "empty"},
		{"   ", "empty"},
		{"Lorem ipsum dolor connection string", "part 1 has no '='"},
		{"endpoint=https://x/;accesskey", "part 2 has no '='"},
		{"endpoint;accessKey=" + key, "part 1 has no '='"},
		{"endpoint=;accesskey=" + key, "endpoint is empty"},
		{"endpoint=https://x/;accesskey=", "accesskey is empty"},
		{"endpoint=https://x/;accesskey=  ", "accesskey is empty"},
		{"accesskey=" + key, "endpoint is missing"},
		{"endpoint=https://x/", "accesskey is missing"},
		{"endpoint=https://x/;endpoint=https://y/;accesskey=" + key, "endpoint is given twice"},
		{"endpoint=https://x/;accesskey=" + key + ";AccessKey=" + key, "accesskey is given twice"},
		{"endpoint=https://x/;;accesskey=" + key, "part 2 is empty"},
		{";endpoint=https://x/;accesskey=" + key, "part 1 is empty"},
		{"endpoint=https://x/;accesskey=" + key + ";;", "part 3 is empty"},
		{"endpoint=https://x/;acesskey=" + key, "part 2 has an unknown name"},
		{"endpoint=file://banana/fofana.txt;accesskey=" + key, "http or https"},
		{"endpoint=contoso.communication.azure.com;accesskey=" + key, "http or https"},
		{"endpoint=https://x/identities;accesskey=" + key, "path"},
		{"endpoint=https://x/?a=1;accesskey=" + key, "query"},
		{"endpoint=https://;accesskey=" + key, "no host"},
		{"endpoint=https://x/;accesskey=not base64!", "accesskey is not valid base64"},
		{"endpoint=https://x/;accesskey=" + key[:len(key)-1], "accesskey is not valid base64"},
	}
	for _, tc := range invalid {
		_, err := ParseConnectionString(tc.in)
		if err == nil {
			t.Errorf("%q: no error", redact(tc.in))
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrInvalidConnectionString) {
			t.Errorf("%q: %v does not wrap ErrInvalidConnectionString", redact(tc.in), err)
		}
		if !strings.Contains(msg, tc.names) {
			t.Errorf("%q: error %q does not say %q", redact(tc.in), msg, tc.names)
		}
		if strings.Contains(msg, key[:12]) || (len(tc.in) > 20 && strings.Contains(msg, tc.in)) || strings.Contains(msg, "base64!") {
			t.Errorf("error %q shows the key or the connection string", msg)
		}
	}
}

// TestConnectionStringNeverPrintsKey covers every way a value is printed.
func TestConnectionStringNeverPrintsKey(t *testing.T) {
	t.Parallel()
	cs, err := ParseConnectionString("endpoint=https://x.communication.azure.com/;accesskey=" + testKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, cs); strings.Contains(s, testKey) {
			t.Errorf("%s shows the key: %s", format, s)
		}
	}
	// A key passed where the endpoint belongs is not echoed either.
	_, err = ParseConnectionString("endpoint=" + testKey + ";accesskey=" + testKey)
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("got %v", err)
	}
}

func redact(s string) string { return strings.ReplaceAll(s, testKey, "KEY") }

func BenchmarkParseConnectionString(b *testing.B) {
	s := "endpoint=https://contoso.communication.azure.com/;accesskey=" + testKey
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseConnectionString(s); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseConnectionString feeds connection strings in which "KEY" stands
// for a secret key. Whatever the parser makes of them, no error may show any
// part of the secret, and what it accepts must be usable.
func FuzzParseConnectionString(f *testing.F) {
	for _, s := range []string{
		"endpoint=https://contoso.communication.azure.com/;accesskey=KEY",
		"ACCESSKEY=KEY;ENDPOINT=http://127.0.0.1:10780/;",
		"endpoint=KEY;accesskey=KEY",
		"endpoint=https://x/;KEY",
		"endpoint=https://x/;KEY=KEY",
		"endpoint=;accesskey=",
		";;",
		"endpoint=https://x/?q;accesskey=KEY",
	} {
		f.Add(s)
	}
	const secret = "c2VjcmV0S2V5TWFya2Vy" // base64 of "secretKeyMarker"
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ReplaceAll(s, "KEY", secret)
		cs, err := ParseConnectionString(s)
		if err != nil {
			if strings.Contains(err.Error(), secret[:8]) {
				t.Fatalf("error %q shows the key", err)
			}
			return
		}
		if cs.Endpoint == "" || cs.AccessKey == "" {
			t.Fatalf("accepted %q with an empty part", s)
		}
		if _, err := NewKeyCredential(cs.AccessKey); err != nil {
			t.Fatalf("accepted a key NewKeyCredential refuses: %v", err)
		}
		if _, err := parseEndpoint(cs.Endpoint, false); err != nil {
			t.Fatalf("accepted an endpoint parseEndpoint refuses: %v", err)
		}
		if strings.Contains(cs.String(), secret[:8]) {
			t.Fatalf("String shows the key")
		}
	})
}

package launch

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
)

func TestLoopbackCertificateIsTrustedForLoopbackNamesByAClientThatAddsIt(t *testing.T) {
	certPEM, keyPEM, err := LoopbackCertificate("rightsdesk launch test")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake() // the client's verdict is what is tested
			c.Close()
		}
	}()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("no certificate in the PEM")
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, name := range []string{"127.0.0.1", "localhost"} {
		c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Errorf("a client trusting the certificate, for %s: %v", name, err)
			continue
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Error("a client that does not trust the certificate connected")
	}
	if c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "example.kz", MinVersion: tls.VersionTLS12}); err == nil {
		c.Close()
		t.Error("the certificate was accepted for a name that is not this machine")
	}
}

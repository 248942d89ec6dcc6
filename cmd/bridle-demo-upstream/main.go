// Command bridle-demo-upstream is a local TLS API stand-in for `make run`:
// it answers every request with what it received, so you can see exactly
// what Bridle forwarded (the injected credential included, by design: it
// is the demo's fake one).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/bridle-gw/bridle/internal/echo"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9443", "address to serve TLS on")
	caOut := flag.String("ca-out", "", "write the CA certificate (PEM) here")
	host := flag.String("host", "api.demo.bridle.test", "host name in the server certificate")
	flag.Parse()
	if err := run(*listen, *caOut, *host); err != nil {
		fmt.Fprintln(os.Stderr, "bridle-demo-upstream:", err)
		os.Exit(1)
	}
}

func run(listen, caOut, host string) error {
	certs, err := echo.NewCerts(host)
	if err != nil {
		return err
	}
	if caOut != "" {
		if err := os.WriteFile(caOut, certs.CAPEM, 0o644); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	log.Printf("demo upstream for %s on https://%s", host, l.Addr())
	srv := &http.Server{Handler: &echo.Handler{}, TLSConfig: certs.TLSConfig(), ReadHeaderTimeout: 5 * time.Second}
	return srv.ServeTLS(l, "", "")
}

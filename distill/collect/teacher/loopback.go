package teacher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
)

// ErrNotLoopback is wrapped by every refusal to send a local teacher's
// request anywhere but this machine's loopback interface.
var ErrNotLoopback = errors.New("a local teacher's request would leave the loopback interface")

// resolveHost returns host's addresses: host itself when it is an IP
// literal, else what res answers.
func resolveHost(ctx context.Context, res Resolver, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	as, err := res.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("host %s has no addresses", host)
	}
	ips := make([]net.IP, len(as))
	for i, a := range as {
		ips[i] = a.IP
	}
	return ips, nil
}

// loopbackAddrs resolves host and returns its addresses if every one is a
// loopback address, else an error wrapping ErrNotLoopback.
func loopbackAddrs(ctx context.Context, res Resolver, host string) ([]net.IP, error) {
	ips, err := resolveHost(ctx, res, host)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %s: %v", ErrNotLoopback, host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("%w: %s resolves to %s", ErrNotLoopback, host, ip)
		}
	}
	return ips, nil
}

// isLoopbackHost reports whether host is this machine's loopback interface:
// an IP literal that is a loopback address, or a name whose every address
// is. A name that does not resolve is not.
func isLoopbackHost(ctx context.Context, res Resolver, host string) bool {
	_, err := loopbackAddrs(ctx, res, host)
	return err == nil
}

// loopbackControl is the dialer's last check, on the address a socket is
// about to connect to.
func loopbackControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: dial %s %s: %v", ErrNotLoopback, network, address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: dial %s %s", ErrNotLoopback, network, address)
	}
	return nil
}

// loopbackOnlyClient is the HTTP client of a teacher classified local. Its
// policy holds at dial time, not only when the config was read: every
// connection resolves its host again and dials only if every address is
// loopback (so a name rebound to another host after classification is
// refused), the socket itself checks the address it connects to, no proxy
// is used (one would carry the request off the machine), and a redirect is
// followed only to a loopback URL without user info.
func loopbackOnlyClient(res Resolver, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	dialer := &net.Dialer{Control: loopbackControl}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := loopbackAddrs(ctx, res, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ip := range ips {
			c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
	return &http.Client{
		Transport: wrap(tr),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return checkLoopbackURL(req.Context(), res, req.URL)
		},
	}
}

// checkLoopbackURL refuses a URL with user info or whose host is not loopback.
func checkLoopbackURL(ctx context.Context, res Resolver, u *url.URL) error {
	if u.User != nil {
		return fmt.Errorf("%w: redirect to %s carries user info", ErrNotLoopback, u.Redacted())
	}
	if _, err := loopbackAddrs(ctx, res, u.Hostname()); err != nil {
		return fmt.Errorf("redirect to %s: %w", u.Redacted(), err)
	}
	return nil
}

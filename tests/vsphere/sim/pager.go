package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// pager makes the PropertyCollector page its answers, which govmomi 0.24's
// simulator never does: with the rule RetrievePropertiesEx=pages:N, the
// answer's objects are cut into N pages; the first goes back with a token,
// ContinueRetrievePropertiesEx hands out the next ones (a new token each
// time, none with the last), CancelRetrievePropertiesEx drops the rest. An
// unknown or used token is an InvalidArgument fault, as on vSphere.
type pager struct {
	mu    sync.Mutex
	pages map[string]*pending
}

type pending struct {
	envelope string   // the answer's text up to and including <soapenv:Body>
	left     [][]byte // the pages still to hand out, each its <objects> elements
}

func newPager() *pager { return &pager{pages: map[string]*pending{}} }

func (p *pager) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pages)
}

func newToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "page-" + hex.EncodeToString(b)
}

// objectsOf finds the <objects> elements of a RetrieveResult answer: the
// envelope up to and including <soapenv:Body>, and each element's bytes.
func objectsOf(body []byte) (envelope string, objects [][]byte, err error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth, start, bodyEnd := 0, int64(-1), int64(-1)
	returnvalStart := int64(-1)
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && t.Name.Local == "Body":
				bodyEnd = d.InputOffset()
			case depth == 4 && t.Name.Local == "returnval":
				returnvalStart = d.InputOffset()
			case depth == 5 && t.Name.Local == "objects":
				start = before
			}
		case xml.EndElement:
			if depth == 5 && t.Name.Local == "objects" && start >= 0 {
				objects = append(objects, body[start:d.InputOffset()])
				start = -1
			}
			depth--
		}
	}
	if bodyEnd < 0 || returnvalStart < 0 {
		return "", nil, errors.New("not a RetrieveResult answer")
	}
	return string(body[:bodyEnd]), objects, nil
}

func resultAnswer(envelope, method, token string, objects []byte) string {
	var b strings.Builder
	b.WriteString(envelope)
	b.WriteString(`<` + method + `Response xmlns="urn:vim25"><returnval>`)
	if token != "" {
		b.WriteString(`<token>` + token + `</token>`)
	}
	b.Write(objects)
	b.WriteString(`</returnval></` + method + `Response></soapenv:Body></soapenv:Envelope>`)
	return b.String()
}

// first answers RetrievePropertiesEx from the simulator's own answer, in n pages.
func (p *pager) first(w http.ResponseWriter, r *http.Request, next http.Handler, n int) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	envelope, objects, err := objectsOf(rec.Body.Bytes())
	if rec.Code != http.StatusOK || err != nil || len(objects) < 2 {
		for k, v := range rec.Header() { // a fault, or nothing to cut: as it is
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	if n > len(objects) {
		n = len(objects)
	}
	var pages [][]byte
	for i := 0; i < n; i++ {
		lo, hi := i*len(objects)/n, (i+1)*len(objects)/n
		pages = append(pages, bytes.Join(objects[lo:hi], nil))
	}
	token := newToken()
	p.mu.Lock()
	p.pages[token] = &pending{envelope: envelope, left: pages[1:]}
	p.mu.Unlock()
	writeXML(w, http.StatusOK, resultAnswer(envelope, "RetrievePropertiesEx", token, pages[0]))
}

// tokenOf reads the <token> of a Continue/Cancel request.
func tokenOf(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "token" {
			var s string
			if d.DecodeElement(&s, &se) == nil {
				return strings.TrimSpace(s)
			}
			return ""
		}
	}
}

// follow answers ContinueRetrievePropertiesEx and CancelRetrievePropertiesEx.
func (p *pager) follow(w http.ResponseWriter, method string, body []byte) {
	token := tokenOf(body)
	p.mu.Lock()
	pend, ok := p.pages[token]
	delete(p.pages, token)
	var page []byte
	next := ""
	if ok && method == "ContinueRetrievePropertiesEx" && len(pend.left) > 0 {
		page, pend.left = pend.left[0], pend.left[1:]
		if len(pend.left) > 0 {
			next = newToken()
			p.pages[next] = pend
		}
	}
	p.mu.Unlock()
	if !ok {
		soapFault(w, "InvalidArgument", "A specified parameter was not correct: token")
		return
	}
	if method == "CancelRetrievePropertiesEx" {
		writeXML(w, http.StatusOK, pend.envelope+`<CancelRetrievePropertiesExResponse xmlns="urn:vim25">`+
			`</CancelRetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>`)
		return
	}
	writeXML(w, http.StatusOK, resultAnswer(pend.envelope, method, next, page))
}

func writeXML(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, text)
}

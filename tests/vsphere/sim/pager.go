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
	"strconv"
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
// envelope up to and including <soapenv:Body>, and each element's bytes. It
// scans bytes rather than XML tokens (tokens took half a second for 10,000
// VMs, which the benchmark would have counted against the client): the
// simulator writes these elements unprefixed and never nests them, and text
// cannot hold a '<'.
func objectsOf(body []byte) (envelope string, objects [][]byte, err error) {
	const bodyTag, returnval = "<soapenv:Body>", "<returnval>"
	b := bytes.Index(body, []byte(bodyTag))
	if b < 0 {
		return "", nil, errors.New("not a RetrieveResult answer")
	}
	bodyEnd := b + len(bodyTag)
	rv := bytes.Index(body[bodyEnd:], []byte(returnval))
	if rv < 0 {
		return "", nil, errors.New("not a RetrieveResult answer")
	}
	open, close := []byte("<objects>"), []byte("</objects>")
	for pos := bodyEnd + rv + len(returnval); ; {
		i := bytes.Index(body[pos:], open)
		if i < 0 {
			break
		}
		j := bytes.Index(body[pos+i:], close)
		if j < 0 {
			return "", nil, errors.New("an <objects> element without its end")
		}
		end := pos + i + j + len(close)
		objects = append(objects, body[pos+i:end])
		pos = end
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

// pagePlan says how first cuts an answer: into n pages, or into pages of at
// most size objects (a request's maxObjects, which vCenter honours and
// govmomi 0.24's simulator ignores); split: the first object of every page
// after the first begins at the end of the page before (its first half of
// properties there, the rest here), as a server may page in the middle of an
// object; remove: once the first page is out, the first VM of a later page
// is unregistered from the inventory and reported gone (missingSet
// ManagedObjectNotFound) when its page is asked for.
type pagePlan struct {
	n, size       int
	split, remove bool
}

// maxObjectsOf reads RetrieveOptions.maxObjects of a RetrievePropertiesEx
// request (0 when absent).
func maxObjectsOf(body []byte) int {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return 0
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "maxObjects" {
			var s string
			if d.DecodeElement(&s, &se) != nil {
				return 0
			}
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 0 {
				return 0
			}
			return n
		}
	}
}

// objectParts takes an <objects> element apart: the <obj> element, each
// <propSet>, and the rest (missingSet), as bytes.
func objectParts(object []byte) (obj []byte, props [][]byte, rest [][]byte) {
	d := xml.NewDecoder(bytes.NewReader(object))
	depth, start := 0, int64(0)
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				start = before
			}
		case xml.EndElement:
			if depth == 2 {
				part := object[start:d.InputOffset()]
				switch t.Name.Local {
				case "obj":
					obj = part
				case "propSet":
					props = append(props, part)
				default:
					rest = append(rest, part)
				}
			}
			depth--
		}
	}
}

func objectOf(parts ...[]byte) []byte {
	return append(append([]byte("<objects>"), bytes.Join(parts, nil)...), "</objects>"...)
}

// vmRef: the moref value of an <objects> element's VirtualMachine, or "".
func vmRef(object []byte) string {
	obj, _, _ := objectParts(object)
	var ref struct {
		Type  string `xml:"type,attr"`
		Value string `xml:",chardata"`
	}
	if obj == nil || xml.Unmarshal(obj, &ref) != nil || ref.Type != "VirtualMachine" {
		return ""
	}
	return strings.TrimSpace(ref.Value)
}

// unregister asks the simulator, with the caller's session, to unregister
// VM `ref`; false when it refuses (a powered-on VM).
func unregister(r *http.Request, next http.Handler, ref string) bool {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<soapenv:Body><UnregisterVM xmlns="urn:vim25"><_this type="VirtualMachine">`)
	xml.EscapeText(&b, []byte(ref))
	b.WriteString(`</_this></UnregisterVM></soapenv:Body></soapenv:Envelope>`)
	req := httptest.NewRequest(http.MethodPost, r.URL.String(), strings.NewReader(b.String()))
	req.Header = r.Header.Clone()
	req.Header.Del("Content-Length")
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, req)
	return rec.Code == http.StatusOK
}

// first answers RetrievePropertiesEx from the simulator's own answer, in
// pages as `plan` says.
func (p *pager) first(w http.ResponseWriter, r *http.Request, next http.Handler, plan pagePlan) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	envelope, objects, err := objectsOf(rec.Body.Bytes())
	whole := rec.Code != http.StatusOK || err != nil || len(objects) < 2 ||
		(plan.size > 0 && len(objects) <= plan.size)
	if whole {
		for k, v := range rec.Header() { // a fault, or nothing to cut: as it is
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	var cuts [][][]byte
	if plan.size > 0 {
		for lo := 0; lo < len(objects); lo += plan.size {
			hi := lo + plan.size
			if hi > len(objects) {
				hi = len(objects)
			}
			cuts = append(cuts, append([][]byte(nil), objects[lo:hi]...))
		}
	} else {
		n := plan.n
		if n > len(objects) {
			n = len(objects)
		}
		for i := 0; i < n; i++ {
			lo, hi := i*len(objects)/n, (i+1)*len(objects)/n
			cuts = append(cuts, append([][]byte(nil), objects[lo:hi]...))
		}
	}
	if plan.split {
		for i := 1; i < len(cuts); i++ {
			obj, props, rest := objectParts(cuts[i][0])
			if obj == nil || len(props) < 2 {
				continue
			}
			k := len(props) / 2
			cuts[i-1] = append(cuts[i-1], objectOf(append([][]byte{obj}, props[:k]...)...))
			cuts[i][0] = objectOf(append(append([][]byte{obj}, props[k:]...), rest...)...)
		}
	}
	if plan.remove {
	found:
		for _, cut := range cuts[1:] {
			for j, o := range cut {
				ref := vmRef(o)
				if ref == "" || !unregister(r, next, ref) {
					continue
				}
				obj, _, _ := objectParts(o)
				cut[j] = objectOf(obj, []byte(`<missingSet><path>summary.config</path><fault>`+
					`<fault xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="ManagedObjectNotFound">`+
					string(obj)+`</fault><localizedMessage>The object has already been deleted or has not been completely created</localizedMessage>`+
					`</fault></missingSet>`))
				break found
			}
		}
	}
	var pages [][]byte
	for _, cut := range cuts {
		pages = append(pages, bytes.Join(cut, nil))
	}
	token := newToken()
	p.mu.Lock()
	p.pages[token] = &pending{envelope: envelope, left: pages[1:]}
	p.mu.Unlock()
	writeXML(w, http.StatusOK, resultAnswer(envelope, "RetrievePropertiesEx", token, pages[0]))
}

// withoutConfig answers RetrievePropertiesEx from the simulator's own
// answer, its first VM's summary.config and config.* properties left out,
// as for a VM being created.
func withoutConfig(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	_, objects, err := objectsOf(body)
	if rec.Code == http.StatusOK && err == nil {
		for _, o := range objects {
			if vmRef(o) == "" {
				continue
			}
			obj, props, rest := objectParts(o)
			kept := [][]byte{obj}
			for _, ps := range props {
				var name struct {
					Name string `xml:"name"`
				}
				xml.Unmarshal(ps, &name)
				if name.Name != "summary.config" && name.Name != "config" &&
					!strings.HasPrefix(name.Name, "config.") {
					kept = append(kept, ps)
				}
			}
			body = bytes.Replace(body, o, objectOf(append(kept, rest...)...), 1)
			break
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	w.Write(body)
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

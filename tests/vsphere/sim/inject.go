package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The ways a call can be answered wrongly.
var injectModes = []string{
	"truncated",  // the real answer cut in half
	"malformed",  // "<<<not xml" with status 200
	"fault",      // a SOAP fault: SystemError "injected fault"
	"fault:TYPE", // a SOAP fault of vim25 type TYPE (HostNotConnected, Timedout...): "injected TYPE"
	"notauth",    // a SOAP fault: NotAuthenticated (as when the session expired)
	"html500",    // HTTP 500 with an HTML page (a proxy's error page)
	"close",      // the connection closed without an answer
	"ok",         // an empty <METHODResponse/>, the call not made (a guest that ignores a shutdown)
	"delay:D",    // the real answer after waiting D (a Go duration: 500ms, 3s)
	"pages:N",    // RetrievePropertiesEx only: the answer in N pages (pager.go); options:
	// pages:N:split, a page boundary inside an object's properties; pages:N:remove, a VM
	// of a later page unregistered once the first page is out, and reported gone there
	"noconfig",    // RetrievePropertiesEx only: the first VM without summary.config and config.*
	"stuck",       // *_Task: the call not made, a task that stays running; CancelTask accepted, ignored (task.go)
	"cancellable", // *_Task: the call not made, a task that runs until CancelTask, then RequestCanceled
	"stateless",   // *_Task: the call not made, a task whose info has no state
	"status:N",    // HTTP status N with a plain-text body; also for file transfers: GET/folder=status:403
}

type rule struct {
	mode   string
	delay  time.Duration
	pages  pagePlan
	status int
	fault  string // fault:TYPE
	left   int    // calls still to answer this way; -1: all
}

// injector sits in front of the simulator's handlers: it counts the calls by
// method and answers the ones with a rule the way the rule says.
type injector struct {
	mu       sync.Mutex
	rules    map[string]*rule
	methods  map[string]int
	requests int
	// maxObjects of the last RetrievePropertiesEx (0: none asked)
	maxObjects int
	pager      *pager
	tasks      *taskKeeper
}

func newInjector() *injector {
	return &injector{rules: map[string]*rule{}, methods: map[string]int{}, pager: newPager(),
		tasks: newTaskKeeper()}
}

// add parses METHOD=MODE[*N].
func (in *injector) add(spec string) error {
	eq := strings.IndexByte(spec, '=')
	if eq <= 0 {
		return errors.New("expected METHOD=MODE[*N]")
	}
	method, mode := spec[:eq], spec[eq+1:]
	r := &rule{left: -1}
	if star := strings.LastIndexByte(mode, '*'); star >= 0 {
		n, err := strconv.Atoi(mode[star+1:])
		if err != nil || n <= 0 {
			return fmt.Errorf("bad count %q", mode[star+1:])
		}
		r.left = n
		mode = mode[:star]
	}
	if strings.HasPrefix(mode, "delay:") {
		d, err := time.ParseDuration(strings.TrimPrefix(mode, "delay:"))
		if err != nil || d < 0 {
			return fmt.Errorf("bad delay %q", mode)
		}
		r.delay = d
		mode = "delay"
	} else if strings.HasPrefix(mode, "pages:") {
		parts := strings.Split(strings.TrimPrefix(mode, "pages:"), ":")
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 2 {
			return fmt.Errorf("bad page count %q (2 or more)", mode)
		}
		if method != "RetrievePropertiesEx" {
			return errors.New("pages:N is for RetrievePropertiesEx only")
		}
		r.pages = pagePlan{n: n}
		for _, opt := range parts[1:] {
			switch opt {
			case "split":
				r.pages.split = true
			case "remove":
				r.pages.remove = true
			default:
				return fmt.Errorf("bad pages option %q (split, remove)", opt)
			}
		}
		mode = "pages"
	} else if strings.HasPrefix(mode, "fault:") {
		t := strings.TrimPrefix(mode, "fault:")
		ok := t != ""
		for _, c := range t {
			ok = ok && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
		}
		if !ok {
			return fmt.Errorf("bad fault type %q (letters and digits)", t)
		}
		r.fault = t
		mode = "fault"
	} else if strings.HasPrefix(mode, "status:") {
		n, err := strconv.Atoi(strings.TrimPrefix(mode, "status:"))
		if err != nil || n < 200 || n > 599 {
			return fmt.Errorf("bad HTTP status %q (200 to 599)", mode)
		}
		r.status = n
		mode = "status"
	} else {
		known := false
		for _, k := range injectModes {
			known = known || k == mode
		}
		if !known || mode == "delay:D" || mode == "pages:N" || mode == "status:N" || mode == "fault:TYPE" {
			return fmt.Errorf("unknown mode %q (known: %s)", mode, strings.Join(injectModes, ", "))
		}
		if mode == "noconfig" && method != "RetrievePropertiesEx" {
			return errors.New("noconfig is for RetrievePropertiesEx only")
		}
	}
	r.mode = mode
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules[method] = r
	return nil
}

func (in *injector) clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = map[string]*rule{}
}

func (in *injector) stats() map[string]interface{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	methods := map[string]int{}
	for k, v := range in.methods {
		methods[k] = v
	}
	return map[string]interface{}{"requests": in.requests, "methods": methods,
		"open_page_tokens": in.pager.open(), "max_objects": in.maxObjects}
}

func (in *injector) resetStats() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.requests = 0
	in.methods = map[string]int{}
	in.maxObjects = 0
}

// take counts one call of `method` and returns the rule to apply, if any.
func (in *injector) take(method string) *rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.requests++
	if method == "" {
		return nil
	}
	in.methods[method]++
	r, ok := in.rules[method]
	if !ok {
		return nil
	}
	if r.left > 0 {
		r.left--
		if r.left == 0 {
			delete(in.rules, method)
		}
	}
	return r
}

// soapMethod: the local name of the first element inside the SOAP Body.
func soapMethod(body []byte) string {
	d := xml.NewDecoder(bytes.NewReader(body))
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			if inBody {
				return se.Name.Local
			}
			inBody = se.Name.Local == "Body"
		}
	}
}

func soapFault(w http.ResponseWriter, faultType, message string) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"` +
		` xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"` +
		` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
		` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>`)
	xml.EscapeText(&b, []byte(message))
	b.WriteString(`</faultstring><detail><` + faultType + `Fault xmlns="urn:vim25" xsi:type="` + faultType + `">`)
	if faultType == "SystemError" {
		b.WriteString(`<reason>`)
		xml.EscapeText(&b, []byte(message))
		b.WriteString(`</reason>`)
	}
	b.WriteString(`</` + faultType + `Fault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, b.String())
}

func (in *injector) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := ""
		var body []byte
		if r.Method == http.MethodPost {
			var err error
			body, err = io.ReadAll(r.Body)
			r.Body.Close()
			if err != nil {
				http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
				return
			}
			method = soapMethod(body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		} else if seg := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2); seg[0] != "" {
			// File transfers and other plain HTTP: "GET/folder", "PUT/folder".
			method = r.Method + "/" + seg[0]
		}
		if method == "RetrievePropertiesEx" {
			n := maxObjectsOf(body)
			in.mu.Lock()
			in.maxObjects = n
			in.mu.Unlock()
		}
		rl := in.take(method)
		if !strictDcPath(w, r) {
			return
		}
		if rl != nil && rl.mode == "delay" {
			select {
			case <-time.After(rl.delay):
				rl = nil // then the real answer
			case <-r.Context().Done():
				return
			}
		}
		if rl == nil {
			// The simulator has no paging: its continuation calls are ours.
			if method == "ContinueRetrievePropertiesEx" || method == "CancelRetrievePropertiesEx" {
				in.pager.follow(w, method, body)
				return
			}
			// Nor tasks that never end: their cancellation is ours too.
			if method == "CancelTask" && in.tasks.cancel(w, body) {
				return
			}
			// Nor does it honour maxObjects, which vCenter does.
			if method == "RetrievePropertiesEx" {
				if size := maxObjectsOf(body); size > 0 {
					in.pager.first(w, r, next, pagePlan{size: size})
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		switch rl.mode {
		case "pages":
			in.pager.first(w, r, next, rl.pages)
		case "noconfig":
			withoutConfig(w, r, next)
		case "stuck", "cancellable", "stateless":
			in.tasks.start(w, method, rl.mode, body)
		case "status":
			httpStatus(w, rl.status)
		case "truncated":
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			half := body[:len(body)/2]
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(half)))
			w.WriteHeader(rec.Code)
			w.Write(half)
		case "ok":
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
				`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">`+
				`<soapenv:Body><`+method+`Response xmlns="urn:vim25"></`+method+`Response>`+
				`</soapenv:Body></soapenv:Envelope>`)
		case "malformed":
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			io.WriteString(w, "<<<not xml")
		case "fault":
			if rl.fault != "" {
				soapFault(w, rl.fault, "injected "+rl.fault)
			} else {
				soapFault(w, "SystemError", "injected fault")
			}
		case "notauth":
			soapFault(w, "NotAuthenticated", "The session is not authenticated.")
		case "html500":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "<html><head><title>500 Internal Server Error</title></head>"+
				"<body><h1>Internal Server Error</h1><p>injected</p></body></html>\n")
		case "close":
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // closes the connection without an answer
		}
	})
}

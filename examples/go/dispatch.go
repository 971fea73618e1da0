// Dispatch a webhook through Hookah using only Go's standard library.
//
// Usage: HOOKAH_URL=http://127.0.0.1:8080 go run dispatch.go [-wait] DESTINATION [JSON]
//
// Sends JSON (default {"hello":"world"}) to DESTINATION via POST /dispatch.
// Hookah answers 202 once the message is stored, then delivers it with retries.
// With -wait, polls the status URL until the message is delivered or failed.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

type accepted struct {
	ID        string `json:"id"`
	StatusURL string `json:"status_url"`
	Duplicate bool   `json:"duplicate"`
	Error     string `json:"error,omitempty"`
}

type message struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	AttemptCount int    `json:"attempt_count"`
}

func main() {
	wait := flag.Bool("wait", false, "poll until the message is delivered or failed")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: go run dispatch.go [-wait] DESTINATION [JSON]")
		os.Exit(2)
	}
	payload := `{"hello":"world"}`
	if flag.NArg() > 1 {
		payload = flag.Arg(1)
	}
	hookah := strings.TrimRight(os.Getenv("HOOKAH_URL"), "/")
	if hookah == "" {
		hookah = "http://127.0.0.1:8080"
	}
	client := &http.Client{Timeout: 10 * time.Second}

	req, err := http.NewRequest("POST", hookah+"/dispatch?"+url.Values{"_url": {flag.Arg(0)}}.Encode(), strings.NewReader(payload))
	check(err)
	req.Header.Set("Content-Type", "application/json")
	// Re-sending with the same key never delivers twice, so retrying this call is safe.
	req.Header.Set("Idempotency-Key", randomKey())
	res, err := client.Do(req)
	check(err)
	var a accepted
	check(json.NewDecoder(res.Body).Decode(&a))
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		fmt.Fprintf(os.Stderr, "hookah refused the message (%d): %s\n", res.StatusCode, a.Error)
		os.Exit(1)
	}
	out, _ := json.Marshal(a)
	fmt.Println(string(out))

	if !*wait {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := client.Get(a.StatusURL)
		check(err)
		var m message
		check(json.NewDecoder(res.Body).Decode(&m))
		res.Body.Close()
		if m.Status == "delivered" || m.Status == "failed" {
			fmt.Printf("{\"id\":%q,\"status\":%q,\"attempts\":%d}\n", m.ID, m.Status, m.AttemptCount)
			if m.Status != "delivered" {
				os.Exit(1)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "still not delivered after 30 s:", a.StatusURL)
	os.Exit(1)
}

func randomKey() string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	check(err)
	return hex.EncodeToString(b)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

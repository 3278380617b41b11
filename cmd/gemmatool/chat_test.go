package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gemmatool/gemmatool/runtime/tokenizer"
)

// chatTurns parses the --json lines of chat.
func chatTurns(t *testing.T, out string) []chatTurn {
	t.Helper()
	var turns []chatTurn
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ct chatTurn
		if err := json.Unmarshal([]byte(l), &ct); err != nil {
			t.Fatalf("chat --json line %q: %v", l, err)
		}
		turns = append(turns, ct)
	}
	return turns
}

// TestChatPipe drives chat through a pipe for two turns: the second turn's prefill covers only
// its new tokens (the pending last answer token and the template around the new message), and
// its greedy answer equals run's over the whole conversation prefilled at once.
func TestChatPipe(t *testing.T) {
	model := brownTiny(t)
	save := filepath.Join(t.TempDir(), "conv.json")
	out, stderr, code := execRun(t, "Hello there\nWhat did the jury say?\n/save "+save+"\n", "chat", "-m", model, "--act", "exact", "--temp", "0", "-n", "6", "--json")
	if code != 0 {
		t.Fatalf("chat: exit %d: %s", code, stderr)
	}
	turns := chatTurns(t, out)
	if len(turns) != 2 {
		t.Fatalf("chat: %d turns, want 2", len(turns))
	}
	lm, err := openModel(model, false, true, false, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()
	first, err := tokenizer.RenderChat([]tokenizer.Message{{Role: "user", Content: []tokenizer.Part{{Type: "text", Text: "Hello there"}}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	ids1 := lm.tok.Encode(first, false)
	t1, t2 := turns[0], turns[1]
	if t1.PromptTokens != len(ids1) || t1.ContextTokens != len(ids1)+len(t1.GeneratedIDs)-1 {
		t.Errorf("turn 1: prompt %d, context %d tokens; want %d and %d", t1.PromptTokens, t1.ContextTokens, len(ids1), len(ids1)+len(t1.GeneratedIDs)-1)
	}
	suffix := "\n<start_of_turn>user\nWhat did the jury say?<end_of_turn>\n<start_of_turn>model\n"
	if t1.FinishReason != finishStop {
		suffix = "<end_of_turn>" + suffix
	}
	new2 := append(t1.GeneratedIDs[len(t1.GeneratedIDs)-1:], lm.tok.Encode(suffix, false)...)
	if t2.PromptTokens != len(new2) {
		t.Errorf("turn 2 prefilled %d tokens, want the %d new ones (the conversation holds %d)", t2.PromptTokens, len(new2), t1.ContextTokens+len(new2))
	}
	if want := t1.ContextTokens + len(new2) + len(t2.GeneratedIDs) - 1; t2.ContextTokens != want {
		t.Errorf("turn 2: context %d tokens, want %d", t2.ContextTokens, want)
	}
	// The same conversation prefilled at once by run gives the same greedy answer.
	all := append(append(append([]int32(nil), ids1...), t1.GeneratedIDs[:len(t1.GeneratedIDs)-1]...), new2...)
	out, stderr, code = mainRun(t, "", "run", "-m", model, "--act", "exact", "--temp", "0", "-n", "6", "--json", "--ids", strings.Trim(fmt.Sprint(all), "[]"))
	var r runResult
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("run: exit %d, %v: %s", code, err, stderr)
	}
	if !slices.Equal(r.GeneratedIDs, t2.GeneratedIDs) {
		t.Errorf("turn 2 answered %v, run over the whole conversation %v", t2.GeneratedIDs, r.GeneratedIDs)
	}
	var saved struct {
		Messages []tokenizer.Message `json:"messages"`
	}
	if b, err := os.ReadFile(save); err != nil || json.Unmarshal(b, &saved) != nil || len(saved.Messages) != 4 || saved.Messages[3].Content[0].Text != t2.Text {
		t.Errorf("/save wrote %d messages (%v), want 4 ending with the second answer", len(saved.Messages), err)
	}
}

// TestChatImageGoldenB: an image turn on golden case b (attached with /image, ids sent with
// /ids) answers with the reference's most likely next token, and a following turn prefills only
// its new ids.
func TestChatImageGoldenB(t *testing.T) {
	model := convertDir(t, goldenBDir)
	ids := goldenIDs(t, goldenBDir)
	want, _ := readF32Safetensors(t, filepath.Join(goldenBDir, "expected.safetensors"))
	logits := want["logits"]
	v := len(logits) / len(ids)
	last := logits[(len(ids)-1)*v:]
	best := 0
	for i, x := range last {
		if x > last[best] {
			best = i
		}
	}
	in := "/image " + filepath.Join(goldenBDir, "image0.png") + "\n/ids " + strings.Trim(fmt.Sprint(ids), "[]") + "\n/ids 106,107,105,290,107\n"
	out, stderr, code := execRun(t, in, "chat", "-m", model, "--act", "exact", "--temp", "0", "-n", "3", "--ignore-eos", "--json")
	if code != 0 {
		t.Fatalf("chat: exit %d: %s", code, stderr)
	}
	turns := chatTurns(t, out)
	if len(turns) != 2 {
		t.Fatalf("chat: %d turns, want 2 (%s)", len(turns), stderr)
	}
	if turns[0].PromptTokens != len(ids) || turns[0].GeneratedIDs[0] != int32(best) {
		t.Errorf("image turn: prompt %d tokens, first answer id %d; want %d and the reference's argmax %d", turns[0].PromptTokens, turns[0].GeneratedIDs[0], len(ids), best)
	}
	if turns[1].PromptTokens != 1+5 {
		t.Errorf("turn 2 prefilled %d tokens, want 6 (the pending answer token and 5 new ids)", turns[1].PromptTokens)
	}
	// Image soft tokens without an attached image are refused, and the chat goes on.
	_, stderr, code = execRun(t, "/ids 2,255,512,512,512,512,256\n", "chat", "-m", model, "--json")
	if code != 0 || !strings.Contains(stderr, "no --image was given") {
		t.Errorf("chat: soft tokens without an image: exit %d, %q", code, stderr)
	}
}

// TestChatInterrupt: Ctrl-C during an answer stops the answer, not the chat; the next message
// is answered.
func TestChatInterrupt(t *testing.T) {
	model := goldenA(t)
	cmd := exec.Command(gemmatoolBinary(t), "chat", "-m", model, "--act", "exact", "-n", "0", "--ignore-eos", "--ctx", "2048")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "/ids 2,3,4\n")
	r := bufio.NewReader(stdout)
	if _, err := r.ReadString(' '); err != nil { // the first generated id
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	// The answer ends with a newline; the second message then gets a bounded answer.
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "/ids 5\n")
	stdin.Close()
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chat after Ctrl-C: %v: %s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "[prompt "); n != 2 || !strings.Contains(stderr.String(), ", interrupted]") || len(rest) == 0 {
		t.Errorf("chat: %d turn summaries, stderr %q, second answer %q; want 2, the first interrupted", n, stderr.String(), rest)
	}
}

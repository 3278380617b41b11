// llamacpp_peer: tokenization and perplexity through libllama, for gemmatool's GGUF interop
// tests (cmd/gemmatool/gguf_peer_test.go builds it against the llama.cpp in /tmp/llama-peer).
//
//   llamacpp_peer tokenize MODEL.gguf IN.bin
//       IN.bin holds records (u32 little-endian byte length, the UTF-8 text, u8 add_special);
//       prints one line of space-separated token ids per record (special tokens parsed).
//   llamacpp_peer ppl MODEL.gguf TOKENS.txt CTX CHUNKS
//       TOKENS.txt: the text's token ids (no BOS). Windows of BOS + CTX-1 text tokens,
//       non-overlapping, at most CHUNKS of them (0: all); every text token of a window is
//       scored from the tokens before it in the window. Prints {"n": ..., "nll_sum": ..., "ppl": ...}
//       with log-softmax in double over the whole logits row. KV cache f32, flash attention off.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml-backend.h"
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * ud) {
    (void) ud;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void die(const char * msg) {
    fprintf(stderr, "llamacpp_peer: %s\n", msg);
    exit(1);
}

static struct llama_model * load(const char * path, int vocab_only) {
    // The CPU backends sit next to libllama (the harness links it with an rpath to that directory).
    Dl_info info;
    char buf[4096];
    if (dladdr((void *) &llama_backend_init, &info) && info.dli_fname) {
        snprintf(buf, sizeof buf, "%s", info.dli_fname);
        ggml_backend_load_all_from_path(dirname(buf));
    } else {
        ggml_backend_load_all();
    }
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.vocab_only = vocab_only;
    struct llama_model * m = llama_model_load_from_file(path, mp);
    if (!m) die("failed to load model");
    return m;
}

static int cmd_tokenize(const char * mpath, const char * in) {
    struct llama_model * m = load(mpath, 1);
    const struct llama_vocab * v = llama_model_get_vocab(m);
    FILE * f = fopen(in, "rb");
    if (!f) die("cannot open input");
    uint32_t len;
    while (fread(&len, 4, 1, f) == 1) {
        char * text = malloc(len + 1);
        if (len && fread(text, 1, len, f) != len) die("short record");
        unsigned char add;
        if (fread(&add, 1, 1, f) != 1) die("short record");
        int cap = (int) len + 16;
        llama_token * toks = malloc(sizeof(llama_token) * cap);
        int n = llama_tokenize(v, text, (int32_t) len, toks, cap, add != 0, true);
        if (n < 0) die("tokenize overflow");
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", toks[i]);
        printf("\n");
        free(toks);
        free(text);
    }
    fclose(f);
    llama_model_free(m);
    return 0;
}

static int cmd_ppl(const char * mpath, const char * tpath, int ctx, int chunks) {
    FILE * f = fopen(tpath, "r");
    if (!f) die("cannot open tokens");
    int cap = 1 << 16, n = 0;
    llama_token * t = malloc(sizeof *t * cap);
    long x;
    while (fscanf(f, "%ld", &x) == 1) {
        if (n == cap) t = realloc(t, sizeof *t * (cap *= 2));
        t[n++] = (llama_token) x;
    }
    fclose(f);
    struct llama_model * m = load(mpath, 0);
    const struct llama_vocab * v = llama_model_get_vocab(m);
    const int nv = llama_vocab_n_tokens(v);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = ctx;
    cp.n_batch = ctx;
    cp.n_ubatch = ctx;
    cp.n_seq_max = 1;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * c = llama_init_from_model(m, cp);
    if (!c) die("failed to create context");
    struct llama_batch b = llama_batch_init(ctx, 0, 1);
    double sum = 0;
    long cnt = 0;
    int w = 0;
    for (int start = 0; start < n && (chunks == 0 || w < chunks); start += ctx - 1, w++) {
        int end = start + ctx - 1 < n ? start + ctx - 1 : n;
        int len = 1 + end - start;
        llama_memory_clear(llama_get_memory(c), true);
        b.n_tokens = len;
        for (int i = 0; i < len; i++) {
            b.token[i] = i == 0 ? llama_vocab_bos(v) : t[start + i - 1];
            b.pos[i] = i;
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = 0;
            b.logits[i] = 1;
        }
        if (llama_decode(c, b) != 0) die("decode failed");
        for (int p = 0; p + 1 < len; p++) {
            const float * lg = llama_get_logits_ith(c, p);
            double mx = -INFINITY, s = 0;
            for (int j = 0; j < nv; j++) if (lg[j] > mx) mx = lg[j];
            for (int j = 0; j < nv; j++) s += exp((double) lg[j] - mx);
            sum += log(s) + mx - lg[b.token[p + 1]];
            cnt++;
        }
        if (end == n) { w++; break; }
    }
    printf("{\"n\": %ld, \"windows\": %d, \"nll_sum\": %.9f, \"ppl\": %.9f}\n", cnt, w, sum, exp(sum / cnt));
    llama_batch_free(b);
    llama_free(c);
    llama_model_free(m);
    return 0;
}

int main(int argc, char ** argv) {
    llama_log_set(quiet, NULL);
    if (argc == 4 && !strcmp(argv[1], "tokenize")) return cmd_tokenize(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "ppl")) return cmd_ppl(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: llamacpp_peer tokenize MODEL.gguf IN.bin | ppl MODEL.gguf TOKENS.txt CTX CHUNKS\n");
    return 2;
}

// llamacpp_clip: loads a gemma3 mmproj file with llama.cpp's clip loader (tools/mtmd/clip.cpp,
// built from the llama.cpp sources in /tmp/llama-peer) and encodes preprocessed pixels, for
// gemmatool's --mmproj interop check.
//
//   llamacpp_clip MMPROJ.gguf PIXELS.f32 SIZE OUT.f32
//       PIXELS.f32: float32 [3][SIZE][SIZE], already resized and normalised (channel planes).
//       OUT.f32: the image embeddings, float32 [tokens][text hidden]; one JSON line on stdout.
#include <dlfcn.h>
#include <libgen.h>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "clip.h"
#include "clip-impl.h"
#include "ggml-backend.h"

static void quiet(enum ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char ** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: llamacpp_clip MMPROJ.gguf PIXELS.f32 SIZE OUT.f32\n");
        return 2;
    }
    ggml_log_set(quiet, nullptr);
    Dl_info info;
    char buf[4096];
    if (dladdr((void *) &ggml_backend_load_all_from_path, &info) && info.dli_fname) {
        snprintf(buf, sizeof buf, "%s", info.dli_fname);
        ggml_backend_load_all_from_path(dirname(buf));
    }
    const int size = atoi(argv[3]);
    std::vector<float> planar((size_t) 3 * size * size);
    FILE * f = fopen(argv[2], "rb");
    if (!f || fread(planar.data(), sizeof(float), planar.size(), f) != planar.size()) {
        fprintf(stderr, "llamacpp_clip: cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    clip_context_params p{};
    p.use_gpu = false;
    p.flash_attn_type = CLIP_FLASH_ATTN_TYPE_DISABLED;
    p.image_min_tokens = -1;
    p.image_max_tokens = -1;
    p.warmup = false;
    clip_init_result r = clip_init(argv[1], p);
    if (!r.ctx_v) {
        fprintf(stderr, "llamacpp_clip: clip_init failed\n");
        return 1;
    }
    std::vector<float> rgb(planar.size());
    const size_t n = (size_t) size * size;
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = planar[c * n + i];
    }
    clip_image_f32 img;
    img.set_size({size, size}, false, false);
    img.cpy_buf(rgb);
    // clip_encode copies into a buffer of the right size only.
    std::vector<float> out((size_t) clip_n_output_tokens(r.ctx_v, &img) * clip_n_mmproj_embd(r.ctx_v));
    if (!clip_image_encode(r.ctx_v, 2, &img, out)) {
        fprintf(stderr, "llamacpp_clip: encode failed\n");
        return 1;
    }
    FILE * o = fopen(argv[4], "wb");
    if (!o || fwrite(out.data(), sizeof(float), out.size(), o) != out.size()) return 1;
    fclose(o);
    printf("{\"n_embd\": %d, \"values\": %zu}\n", clip_n_mmproj_embd(r.ctx_v), out.size());
    clip_free(r.ctx_v);
    return 0;
}

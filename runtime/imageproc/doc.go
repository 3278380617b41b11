// Package imageproc turns encoded images into the pixel_values tensors and the expanded
// prompt text that Gemma 3's vision path expects, reproducing the PIL path of Hugging Face
// transformers' Gemma3ImageProcessor and Gemma3Processor.
//
// The pipeline for one image is:
//
//  1. [Load] decodes PNG, JPEG, GIF (first frame) or WebP, refusing images above
//     [MaxPixels] before any pixel buffer is allocated.
//  2. [ToRGB] converts the decoded image to 8-bit RGB exactly as PIL's
//     Image.convert("RGB") does (alpha is dropped, 16-bit gray saturates at 255, 16-bit
//     color keeps the high byte). That is what transformers' image_transforms.convert_to_rgb,
//     which Gemma3ImageProcessor calls, does. [CompositeOnWhite] reproduces PIL's
//     alpha_composite onto an opaque white background instead, as some other HF
//     processors (Idefics2, Mllama) do; [Config.FlattenAlpha] selects it.
//  3. Optional pan & scan ([PanAndScanCrops]) cuts the RGB image into 2–4 crops.
//  4. [ResizeBilinear] resizes each image or crop to Config.Width×Config.Height with
//     PIL's Image.resize(size, BILINEAR, reducing_gap=None), bit for bit: a separable
//     triangle filter whose support widens with the downscale factor, fixed-point
//     coefficients with 22 fractional bits, horizontal pass first with an 8-bit clip in
//     between.
//  5. [Normalize] rescales uint8·(1/255) in float64, stores float32, then computes
//     (x − mean)/std in float32 and lays the result out channels first ([3, H, W]).
//
// [Preprocess] runs steps 2–5. [ExpandPrompt] rewrites the prompt text the way
// Gemma3Processor does, and [TokenTypeIDs] and [ImageRuns] derive the image masks from
// the tokenized ids.
//
// Bit-exactness (checked against Pillow 9.4 with the fixtures in testdata/): PNG, GIF
// and WebP (lossless and lossy; VP8 reconstruction is exact by specification, and [Load]
// redoes libwebp's fancy chroma upsampling and YUV→RGB tables) decode to exactly PIL's
// pixels, so pixel_values match HF bit for bit. For JPEG, [Load] redoes libjpeg-turbo's
// fancy chroma upsampling and colour tables, but Go's IDCT rounds differently from
// libjpeg-turbo's islow IDCT, so a few samples differ by 1–2 levels (mean about 0.05).
// The resize and the normalisation are exact for every input.
//
// Alpha: the spec (gemma3.md 4.1) says images with alpha are composited on white, but
// Gemma3ImageProcessor calls transformers.image_transforms.convert_to_rgb, which is a
// plain PIL convert("RGB") that drops alpha. [Preprocess] follows the code; set
// [Config.FlattenAlpha] for the composite.
package imageproc

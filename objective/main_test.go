package objective

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// envTestScorer makes the test binary act as an external scorer; its value
// picks the behaviour.
const envTestScorer = "LORASWEEP_TEST_SCORER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envTestScorer); mode != "" {
		os.Exit(testScorer(mode))
	}
	os.Exit(m.Run())
}

// testScorer is a scorer written for the tests: it reads the request and
// answers as mode says.
func testScorer(mode string) int {
	data, err := os.ReadFile(os.Getenv(EnvRequest))
	if err != nil {
		fmt.Fprintln(os.Stderr, "read request:", err)
		return 2
	}
	var req CommandRequest
	if err := json.Unmarshal(data, &req); err != nil {
		fmt.Fprintln(os.Stderr, "decode request:", err)
		return 2
	}
	write := func(v any) int {
		out, _ := json.Marshal(v)
		if err := os.WriteFile(os.Getenv(EnvResponse), out, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "write response:", err)
			return 2
		}
		return 0
	}
	fmt.Println("model loaded; printing to stdout is harmless")
	switch mode {
	case "ok":
		// Score = number of images/10 in range [0, 2]; per-image score = seed.
		var imgs []ImageScore
		for _, im := range req.Images {
			imgs = append(imgs, ImageScore{Path: im.Path, Score: float64(im.Seed)})
		}
		score := float64(len(req.Images)) / 10
		return write(CommandResponse{Score: &score, Range: &[2]float64{0, 2}, Images: imgs})
	case "echo":
		// Reports what it saw as flags so the test can check the request.
		score := 0.5
		flags := []string{
			"gpus=" + fmt.Sprint(req.GPUs), "cuda=" + os.Getenv("CUDA_VISIBLE_DEVICES"),
			fmt.Sprintf("refs=%d", len(req.References)), fmt.Sprintf("param=%v", req.Params["model"]),
			fmt.Sprintf("trial=%d epoch=%d lr=%v", req.Trial, req.Epoch, req.TrialParams["unet_lr"]),
			fmt.Sprintf("prompt=%s idx=%d", req.Images[0].Prompt, req.Images[0].PromptIndex),
		}
		return write(CommandResponse{Score: &score, Images: []ImageScore{{Path: "x", Flags: flags}}})
	case "lower":
		score := 0.2
		return write(CommandResponse{Score: &score, LowerIsBetter: true})
	case "crash":
		fmt.Fprintln(os.Stderr, "Traceback (most recent call last):\nRuntimeError: CUDA out of memory")
		return 3
	case "garbage":
		if err := os.WriteFile(os.Getenv(EnvResponse), []byte("not json"), 0o600); err != nil {
			return 2
		}
		return 0
	case "silent":
		return 0
	case "noscore":
		return write(map[string]any{"images": []any{}})
	case "reported":
		return write(CommandResponse{Error: "face not found in 3 of 4 images"})
	case "hang":
		time.Sleep(time.Minute)
		return 0
	}
	return 2
}

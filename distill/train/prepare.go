package train

import (
	"fmt"
	"io"

	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/model/infer"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

// Data opens datasets for a run. The default implementation (DatasetData)
// reads data/dataset directories through data/loader; tests inject fakes.
type Data interface {
	// Info describes the dataset in dir (from its manifest).
	Info(dir string) (DatasetInfo, error)
	// TokenizerPath is the tokenizer.json recorded with the dataset in dir,
	// "" if it has none.
	TokenizerPath(dir string) (string, error)
	// TrainLoader yields shuffled, packed training batches [BatchSize, SeqLen]
	// forever, deterministically for Seed.
	TrainLoader(dir string, o LoaderOptions) (Loader, error)
	// Validation returns up to maxBatches held-out batches, always the same ones.
	Validation(dir string, o LoaderOptions, maxBatches int) ([]*batch.Batch, error)
}

// ModelBuilder constructs the student with fresh weights.
type ModelBuilder func(s Setup, seed int64) (Model, error)

// Prepare loads and checks everything a run needs before the first update:
// the config (Validate), the tokenizer (hash and vocabulary), the student
// architecture with its loss (ResolveStudent), both datasets (tokenizer hash,
// vocabulary and the teacher signals the loss needs), the model and the data.
// It refuses unusable data before training. It is the edge where the config
// is validated, once: Run and BuildStudent do not check its Setup again.
func Prepare(cfg Config, data Data, build ModelBuilder, log io.Writer) (Setup, error) {
	if err := cfg.Validate(); err != nil {
		return Setup{}, err
	}
	trainInfo, err := data.Info(cfg.Data.Train)
	if err != nil {
		return Setup{}, fmt.Errorf("data.train: %w", err)
	}
	valInfo, err := data.Info(cfg.Data.Validation)
	if err != nil {
		return Setup{}, fmt.Errorf("data.validation: %w", err)
	}
	tokPath := cfg.Tokenizer
	if tokPath == "" {
		if tokPath, err = data.TokenizerPath(cfg.Data.Train); err != nil {
			return Setup{}, err
		}
		if tokPath == "" {
			return Setup{}, fmt.Errorf("no tokenizer: set tokenizer: to the student's tokenizer.json (dataset %s records none)", cfg.Data.Train)
		}
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return Setup{}, fmt.Errorf("tokenizer: %w", err)
	}
	if cfg.Init != "" && checkpoint.IsPretrainedSource(cfg.Init) {
		// A pretrained model brings its own architecture.
		pre, err := checkpoint.PretrainedConfig(cfg.Init)
		if err != nil {
			return Setup{}, fmt.Errorf("init: %w", err)
		}
		if log != nil {
			fmt.Fprintf(log, "student architecture from init %s (%s, %d blocks, d_model %d); model: %q not used\n", cfg.Init, pre.ArchName(), pre.NLayers, pre.DModel, cfg.Model)
		}
		cfg.Student, cfg.Model = &pre, ""
	}
	spec, err := cfg.ResolveStudent(tok.VocabSize())
	if err != nil {
		return Setup{}, err
	}
	s := spec.Config()
	if avail, err := sysmem.Available(); err == nil { // no check where the system reports nothing
		if err := s.CheckTrainingMemory(cfg.Train.BatchSize, cfg.Train.SeqLen, cfg.Train.Accumulation > 1, cfg.Train.Recompute == RecomputeBlocks, avail); err != nil {
			return Setup{}, err
		}
	}
	hash := tok.Hash()
	dataLoss := cfg.Loss
	if cfg.Teacher.Enabled() {
		// The online teacher gives the training signals; the held-out set's
		// stored ones, when present, are still evaluated.
		dataLoss.Alpha = 0
	}
	for _, d := range []DatasetInfo{trainInfo, valInfo} {
		if err := CheckDataset(d, hash, s, dataLoss); err != nil {
			return Setup{}, err
		}
	}
	if cfg.Policy != "" {
		pol, err := policy.Load(cfg.Policy)
		if err != nil {
			return Setup{}, err
		}
		for _, dir := range []string{cfg.Data.Train, cfg.Data.Validation} {
			if err := CheckPolicy(dir, pol); err != nil {
				return Setup{}, fmt.Errorf("policy %s: %w", cfg.Policy, err)
			}
		}
	}
	setup := Setup{Config: cfg, Student: s, TokenizerHash: hash, TokenizerPath: tokPath, Log: log, spec: spec, prepared: true,
		EOS: tok.Special().EOS}
	switch {
	case cfg.Teacher.Local.Model != "":
		if setup.Teacher, err = loadTeacher(cfg, s.VocabSize, hash); err != nil {
			return Setup{}, err
		}
	case cfg.Teacher.OpenAI != nil:
		if setup.Teacher, err = remoteTeacher(cfg, tok, s.VocabSize); err != nil {
			return Setup{}, err
		}
	}
	opts := LoaderOptions{BatchSize: cfg.Train.BatchSize, SeqLen: cfg.Train.SeqLen, Seed: cfg.Train.Seed,
		Split: cfg.Data.TrainSplit, Packing: cfg.Data.Packing, Hidden: cfg.Loss.NeedsHidden(), Log: log}
	if setup.Train, err = data.TrainLoader(cfg.Data.Train, opts); err != nil {
		return Setup{}, fmt.Errorf("data.train: %w", err)
	}
	opts.Split, opts.Log = cfg.Data.ValidationSplit, nil // the training loader's warnings suffice
	if setup.Validation, err = data.Validation(cfg.Data.Validation, opts, cfg.Data.EvalBatches); err != nil {
		return Setup{}, fmt.Errorf("data.validation: %w", err)
	}
	if len(setup.Validation) == 0 {
		return Setup{}, fmt.Errorf("data.validation: %s yields no batches of %d×%d", cfg.Data.Validation, cfg.Train.BatchSize, cfg.Train.SeqLen)
	}
	if setup.Model, err = build(setup, cfg.Train.Seed); err != nil {
		return Setup{}, fmt.Errorf("build student: %w", err)
	}
	return setup, nil
}

// denseTeacherBudget bounds the dense teacher logits of one batch
// (B·T·V float32); beyond it teacher.local.dense: false is asked for.
const denseTeacherBudget = 1 << 30

// loadTeacher loads teacher.local.model with the runtime and checks that it
// shares the student's tokenizer (it reads the student's token ids).
func loadTeacher(cfg Config, vocab int, tokHash string) (Teacher, error) {
	lc := cfg.Teacher.Local
	m, err := engine.Load(lc.Model, infer.Options{Context: cfg.Train.SeqLen})
	if err != nil {
		return nil, fmt.Errorf("teacher.local.model %s: %w", lc.Model, err)
	}
	if m.TokenizerHash() != tokHash {
		m.Close()
		return nil, fmt.Errorf("teacher.local.model %s: its tokenizer (%s) is not the student's (%s); an online teacher reads the student's token ids and must share its tokenizer", lc.Model, m.TokenizerHash(), tokHash)
	}
	if n := int64(cfg.Train.BatchSize) * int64(cfg.Train.SeqLen) * int64(vocab) * 4; lc.Dense && n > denseTeacherBudget {
		m.Close()
		return nil, fmt.Errorf("teacher.local.dense: the full distributions of a %d×%d batch over %d tokens take %d MiB (limit %d MiB); set teacher.local.dense: false (top-k + tail) or a smaller batch", cfg.Train.BatchSize, cfg.Train.SeqLen, vocab, n>>20, denseTeacherBudget>>20)
	}
	t, err := onpolicy.NewLocal(m.Runtime(), vocab, lc.Dense, cfg.Teacher.TopK, cfg.Loss.Temperature)
	if err != nil {
		m.Close()
		return nil, err
	}
	return t, nil
}

// remoteTeacher builds the OpenAI-compatible teacher after the policy's
// checks: its terms, its declared locality, and that every training row's
// class may be sent to it (the student's samples of a row go where its
// prompt may).
func remoteTeacher(cfg Config, tok *tokenizer.Tokenizer, vocab int) (Teacher, error) {
	oc := *cfg.Teacher.OpenAI
	pol, err := policy.Load(cfg.Policy)
	if err != nil {
		return nil, err
	}
	if err := pol.CheckTerms(oc.Name, cfg.Teacher.AcknowledgeTerms); err != nil {
		return nil, fmt.Errorf("teacher.openai: %w (teacher.acknowledge_terms)", err)
	}
	ot, err := teacher.NewOpenAI(oc)
	if err != nil {
		return nil, err
	}
	if pt := pol.Teachers[oc.Name]; ot.Remote() && !pt.Remote {
		return nil, fmt.Errorf("teacher.openai %q sends rows over the network, but policy %s declares it local (remote: false); declare it remote: true", oc.Name, cfg.Policy)
	}
	if err := CheckSend(cfg.Data.Train, pol, oc.Name, cfg.Teacher.DefaultClass); err != nil {
		return nil, fmt.Errorf("policy %s: %w", cfg.Policy, err)
	}
	return onpolicy.NewRemote(ot, tok, vocab, cfg.Teacher.TopK), nil
}

// BuildStudent is the ModelBuilder for model/student: it builds the student
// Prepare checked (a hand-made Setup has no checked student and is refused).
func BuildStudent(s Setup, seed int64) (Model, error) {
	m, err := student.Build(s.spec, seed)
	if err != nil {
		return nil, err
	}
	m.SetRecompute(s.Config.Train.Recompute == RecomputeBlocks)
	return m, nil
}

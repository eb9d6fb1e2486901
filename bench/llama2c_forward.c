/* The C anchor of `npm run bench:engine`: the forward pass of llama2.c's run.c (Karpathy, MIT),
 * written again here in one file, single-threaded, with greedy decoding only. It reads the same
 * llama2.c checkpoint the engine loads, feeds the same prompt token ids, and prints the tokens
 * it produced and the decode time as JSON, so the benchmark can check that both produce the
 * same tokens before it compares speed.
 *
 *   gcc -O3 -o fwd llama2c_forward.c -lm        (and -Ofast -march=native)
 *   ./fwd model.bin steps id id id ...    →  {"tokens":[...],"seconds":s}
 *
 * Like run.c: prompt tokens are forced, then each next token is the argmax of the logits,
 * until `steps` positions have run. No tokenizer: ids in, ids out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int dim;        /* transformer dimension */
  int hidden_dim; /* for ffn layers */
  int n_layers;
  int n_heads;
  int n_kv_heads; /* can be < n_heads (multiquery) */
  int vocab_size; /* negative in the file: a separate classifier follows */
  int seq_len;    /* max sequence length */
} Config;

typedef struct {
  float *token_embedding_table; /* (vocab_size, dim) */
  float *rms_att_weight;        /* (layer, dim) */
  float *rms_ffn_weight;        /* (layer, dim) */
  float *wq;                    /* (layer, dim, n_heads * head_size) */
  float *wk;                    /* (layer, dim, n_kv_heads * head_size) */
  float *wv;                    /* (layer, dim, n_kv_heads * head_size) */
  float *wo;                    /* (layer, n_heads * head_size, dim) */
  float *w1;                    /* (layer, hidden_dim, dim) */
  float *w2;                    /* (layer, dim, hidden_dim) */
  float *w3;                    /* (layer, hidden_dim, dim) */
  float *rms_final_weight;      /* (dim) */
  float *wcls;                  /* (vocab_size, dim) */
} Weights;

typedef struct {
  float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits; /* activations */
  float *key_cache, *value_cache;                     /* (layer, seq_len, kv_dim) */
} RunState;

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
  return p;
}

static void rmsnorm(float *o, const float *x, const float *weight, int size) {
  float ss = 0.0f;
  for (int j = 0; j < size; j++) ss += x[j] * x[j];
  ss /= size;
  ss += 1e-5f;
  ss = 1.0f / sqrtf(ss);
  for (int j = 0; j < size; j++) o[j] = weight[j] * (ss * x[j]);
}

static void softmax(float *x, int size) {
  float max_val = x[0];
  for (int i = 1; i < size; i++) if (x[i] > max_val) max_val = x[i];
  float sum = 0.0f;
  for (int i = 0; i < size; i++) { x[i] = expf(x[i] - max_val); sum += x[i]; }
  for (int i = 0; i < size; i++) x[i] /= sum;
}

/* W (d,n) @ x (n,) -> xout (d,) */
static void matmul(float *xout, const float *x, const float *w, int n, int d) {
  for (int i = 0; i < d; i++) {
    float val = 0.0f;
    for (int j = 0; j < n; j++) val += w[i * n + j] * x[j];
    xout[i] = val;
  }
}

static float *forward(const Config *p, const Weights *w, RunState *s, int token, int pos) {
  int dim = p->dim, hidden_dim = p->hidden_dim, head_size = dim / p->n_heads;
  int kv_dim = (p->dim * p->n_kv_heads) / p->n_heads, kv_mul = p->n_heads / p->n_kv_heads;
  float *x = s->x;
  memcpy(x, w->token_embedding_table + (size_t)token * dim, dim * sizeof(float));

  for (int l = 0; l < p->n_layers; l++) {
    rmsnorm(s->xb, x, w->rms_att_weight + l * dim, dim);
    size_t loff = (size_t)l * p->seq_len * kv_dim;
    float *k = s->key_cache + loff + pos * kv_dim, *v = s->value_cache + loff + pos * kv_dim;
    matmul(s->q, s->xb, w->wq + (size_t)l * dim * dim, dim, dim);
    matmul(k, s->xb, w->wk + (size_t)l * dim * kv_dim, dim, kv_dim);
    matmul(v, s->xb, w->wv + (size_t)l * dim * kv_dim, dim, kv_dim);

    /* RoPE: rotate interleaved pairs (i, i+1) of each head */
    for (int i = 0; i < dim; i += 2) {
      int head_dim = i % head_size;
      float freq = 1.0f / powf(10000.0f, head_dim / (float)head_size);
      float val = pos * freq, fcr = cosf(val), fci = sinf(val);
      int rotn = i < kv_dim ? 2 : 1;
      for (int r = 0; r < rotn; r++) {
        float *vec = r == 0 ? s->q : k;
        float v0 = vec[i], v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
      }
    }

    /* multihead attention over positions 0..pos */
    for (int h = 0; h < p->n_heads; h++) {
      float *q = s->q + h * head_size, *att = s->att + h * p->seq_len;
      for (int t = 0; t <= pos; t++) {
        float *kt = s->key_cache + loff + t * kv_dim + (h / kv_mul) * head_size;
        float score = 0.0f;
        for (int i = 0; i < head_size; i++) score += q[i] * kt[i];
        att[t] = score / sqrtf(head_size);
      }
      softmax(att, pos + 1);
      float *xb = s->xb + h * head_size;
      memset(xb, 0, head_size * sizeof(float));
      for (int t = 0; t <= pos; t++) {
        float *vt = s->value_cache + loff + t * kv_dim + (h / kv_mul) * head_size;
        float a = att[t];
        for (int i = 0; i < head_size; i++) xb[i] += a * vt[i];
      }
    }
    matmul(s->xb2, s->xb, w->wo + (size_t)l * dim * dim, dim, dim);
    for (int i = 0; i < dim; i++) x[i] += s->xb2[i];

    /* SwiGLU FFN: w2(silu(w1(x)) * w3(x)) */
    rmsnorm(s->xb, x, w->rms_ffn_weight + l * dim, dim);
    matmul(s->hb, s->xb, w->w1 + (size_t)l * dim * hidden_dim, dim, hidden_dim);
    matmul(s->hb2, s->xb, w->w3 + (size_t)l * dim * hidden_dim, dim, hidden_dim);
    for (int i = 0; i < hidden_dim; i++) {
      float val = s->hb[i];
      val *= (1.0f / (1.0f + expf(-val)));
      s->hb[i] = val * s->hb2[i];
    }
    matmul(s->xb, s->hb, w->w2 + (size_t)l * dim * hidden_dim, hidden_dim, dim);
    for (int i = 0; i < dim; i++) x[i] += s->xb[i];
  }
  rmsnorm(x, x, w->rms_final_weight, dim);
  matmul(s->logits, x, w->wcls, p->dim, p->vocab_size);
  return s->logits;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: %s model.bin steps id [id ...]\n", argv[0]); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", argv[1]); return 1; }
  Config p;
  if (fread(&p, sizeof(Config), 1, f) != 1) { fprintf(stderr, "short header\n"); return 1; }
  int shared = p.vocab_size > 0;
  p.vocab_size = abs(p.vocab_size);
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f) - (long)sizeof(Config);
  fseek(f, sizeof(Config), SEEK_SET);
  float *data = xcalloc(bytes / sizeof(float), sizeof(float));
  if (fread(data, 1, bytes, f) != (size_t)bytes) { fprintf(stderr, "short read\n"); return 1; }
  fclose(f);

  int head_size = p.dim / p.n_heads, kv_dim = p.n_kv_heads * head_size;
  size_t L = p.n_layers;
  Weights w;
  float *ptr = data;
  w.token_embedding_table = ptr; ptr += (size_t)p.vocab_size * p.dim;
  w.rms_att_weight = ptr; ptr += L * p.dim;
  w.wq = ptr; ptr += L * p.dim * p.dim;
  w.wk = ptr; ptr += L * p.dim * kv_dim;
  w.wv = ptr; ptr += L * p.dim * kv_dim;
  w.wo = ptr; ptr += L * p.dim * p.dim;
  w.rms_ffn_weight = ptr; ptr += L * p.dim;
  w.w1 = ptr; ptr += L * p.dim * p.hidden_dim;
  w.w2 = ptr; ptr += L * p.hidden_dim * p.dim;
  w.w3 = ptr; ptr += L * p.dim * p.hidden_dim;
  w.rms_final_weight = ptr; ptr += p.dim;
  ptr += (size_t)p.seq_len * head_size; /* freq_cis_real and _imag, unused */
  w.wcls = shared ? w.token_embedding_table : ptr;

  RunState s;
  s.x = xcalloc(p.dim, sizeof(float)); s.xb = xcalloc(p.dim, sizeof(float)); s.xb2 = xcalloc(p.dim, sizeof(float));
  s.hb = xcalloc(p.hidden_dim, sizeof(float)); s.hb2 = xcalloc(p.hidden_dim, sizeof(float)); s.q = xcalloc(p.dim, sizeof(float));
  s.key_cache = xcalloc(L * p.seq_len * kv_dim, sizeof(float)); s.value_cache = xcalloc(L * p.seq_len * kv_dim, sizeof(float));
  s.att = xcalloc((size_t)p.n_heads * p.seq_len, sizeof(float)); s.logits = xcalloc(p.vocab_size, sizeof(float));

  int steps = atoi(argv[2]), n_prompt = argc - 3;
  if (steps > p.seq_len) steps = p.seq_len;
  int *out = xcalloc(steps + 1, sizeof(int));
  int token = atoi(argv[3]);
  struct timespec t0, t1, c0, c1; /* wall and this process's CPU time */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  for (int pos = 0; pos < steps; pos++) {
    float *logits = forward(&p, &w, &s, token, pos);
    int next;
    if (pos + 1 < n_prompt) next = atoi(argv[3 + pos + 1]);
    else {
      next = 0;
      for (int i = 1; i < p.vocab_size; i++) if (logits[i] > logits[next]) next = i;
    }
    out[pos] = next;
    token = next;
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("{\"tokens\":[");
  for (int i = 0; i < steps; i++) printf("%s%d", i ? "," : "", out[i]);
  printf("],\"seconds\":%.6f,\"cpu_seconds\":%.6f}\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
         (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9);
  return 0;
}

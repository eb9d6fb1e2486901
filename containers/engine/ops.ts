// The primitive ops of a Llama block, each with its exact backward. Shapes are row-major;
// "T" is the number of rows (tokens). Every function works on fp32 (serving, training) and
// fp64 (the finite-difference gradient checks in ops.test.ts) arrays alike.
// Backward functions ACCUMULATE into their gradient outputs (+=), so callers zero them once.

export type Arr = Float32Array | Float64Array;

/**
 * out(T,d) = x(T,n) · w(d,n)ᵀ — one pass over w serves all T rows (the batched base matmul).
 * Four output rows at a time: each x value loaded once feeds four multiply-adds.
 */
export function matmul(out: Arr, x: Arr, w: Arr, T: number, n: number, d: number): void {
  let i = 0;
  for (; i + 3 < d; i += 4) {
    const w0 = i * n, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
    for (let t = 0; t < T; t++) {
      const xt = t * n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = 0; j < n; j++) {
        const xv = x[xt + j]!;
        s0 += w[w0 + j]! * xv;
        s1 += w[w1 + j]! * xv;
        s2 += w[w2 + j]! * xv;
        s3 += w[w3 + j]! * xv;
      }
      const o = t * d + i;
      out[o] = s0;
      out[o + 1] = s1;
      out[o + 2] = s2;
      out[o + 3] = s3;
    }
  }
  for (; i < d; i++) // the d % 4 leftover rows
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += w[i * n + j]! * x[t * n + j]!;
      out[t * d + i] = s;
    }
}

/**
 * Backward of matmul: dx(T,n) += dy·w, and dw(d,n) += dyᵀ·x when dw is given.
 * Blocked by four (outputs for dx, rows for dw) so each accumulator load serves four products.
 */
export function matmulBackward(dx: Arr | null, dw: Arr | null, dy: Arr, x: Arr, w: Arr, T: number, n: number, d: number): void {
  if (dx)
    for (let t = 0; t < T; t++) {
      const xt = t * n, dt = t * d;
      let i = 0;
      for (; i + 3 < d; i += 4) {
        const g0 = dy[dt + i]!, g1 = dy[dt + i + 1]!, g2 = dy[dt + i + 2]!, g3 = dy[dt + i + 3]!;
        const w0 = i * n, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        for (let j = 0; j < n; j++) dx[xt + j] = dx[xt + j]! + g0 * w[w0 + j]! + g1 * w[w1 + j]! + g2 * w[w2 + j]! + g3 * w[w3 + j]!;
      }
      for (; i < d; i++) {
        const g = dy[dt + i]!, wi = i * n;
        for (let j = 0; j < n; j++) dx[xt + j] = dx[xt + j]! + g * w[wi + j]!;
      }
    }
  if (dw)
    for (let i = 0; i < d; i++) {
      const wi = i * n;
      let t = 0;
      for (; t + 3 < T; t += 4) {
        const g0 = dy[t * d + i]!, g1 = dy[(t + 1) * d + i]!, g2 = dy[(t + 2) * d + i]!, g3 = dy[(t + 3) * d + i]!;
        const x0 = t * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        for (let j = 0; j < n; j++) dw[wi + j] = dw[wi + j]! + g0 * x[x0 + j]! + g1 * x[x1 + j]! + g2 * x[x2 + j]! + g3 * x[x3 + j]!;
      }
      for (; t < T; t++) {
        const g = dy[t * d + i]!, xt = t * n;
        for (let j = 0; j < n; j++) dw[wi + j] = dw[wi + j]! + g * x[xt + j]!;
      }
    }
}

/** y[i] += a·x[i] over n values (residual adds, the LoRA delta). */
export function addScaled(y: Arr, x: Arr, a: number, n: number): void {
  for (let i = 0; i < n; i++) y[i] = y[i]! + a * x[i]!;
}

/** out = x / rms(x) * w per row of n; returns nothing, rows are independent. */
export function rmsnorm(out: Arr, x: Arr, w: Arr, T: number, n: number, eps: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[o + j]! * x[o + j]!;
    const r = 1 / Math.sqrt(ss / n + eps);
    for (let j = 0; j < n; j++) out[o + j] = x[o + j]! * r * w[j]!;
  }
}

/** Backward of rmsnorm: dx += r·g − r³·x·(g·x)/n with g = dy⊙w; dw += Σ_t dy⊙x·r. */
export function rmsnormBackward(dx: Arr, dw: Arr | null, dy: Arr, x: Arr, w: Arr, T: number, n: number, eps: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[o + j]! * x[o + j]!;
    const r = 1 / Math.sqrt(ss / n + eps);
    let gx = 0;
    for (let j = 0; j < n; j++) gx += dy[o + j]! * w[j]! * x[o + j]!;
    const c = (r * r * r * gx) / n;
    for (let j = 0; j < n; j++) {
      dx[o + j] = dx[o + j]! + (r * dy[o + j]! * w[j]! - c * x[o + j]!);
      if (dw) dw[j] = dw[j]! + (dy[o + j]! * x[o + j]! * r);
    }
  }
}

/** RoPE tables: cos/sin(pos · θ^(−2i/headDim)) for pos < maxSeq, i < headDim/2. */
export function ropeTables(maxSeq: number, headDim: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = headDim / 2;
  const cos = new Float64Array(maxSeq * half);
  const sin = new Float64Array(maxSeq * half);
  for (let p = 0; p < maxSeq; p++)
    for (let i = 0; i < half; i++) {
      const a = p * Math.pow(theta, (-2 * i) / headDim);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  return { cos, sin };
}

/**
 * Rotate each head of x(T, nH·hd) in place by its row's position (Hugging Face "rotate_half"
 * layout: pairs (i, i+hd/2)). sign = −1 applies the inverse rotation, which is the backward.
 */
export function rope(x: Arr, T: number, nH: number, hd: number, pos: ArrayLike<number>, tab: { cos: Float64Array; sin: Float64Array }, sign = 1): void {
  const half = hd / 2;
  for (let t = 0; t < T; t++) {
    const p = pos[t]! * half;
    for (let h = 0; h < nH; h++) {
      const o = t * nH * hd + h * hd;
      for (let i = 0; i < half; i++) {
        const c = tab.cos[p + i]!, s = sign * tab.sin[p + i]!;
        const a = x[o + i]!, b = x[o + i + half]!;
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

/**
 * Floats of attention's probs for T positions and nH heads: (nH, Tp, Tp) with Tp = T rounded up
 * to 4, so every row starts 16-byte aligned and is whole vectors long (the SIMD kernels' layout,
 * shared with this reference so either path can run the backward of the other's forward).
 */
export function probsLength(T: number, nH: number): number {
  const Tp = (T + 3) & ~3;
  return nH * Tp * Tp;
}

/**
 * Causal grouped-query attention over one sequence: q(T, nH·hd), k,v(T, nKv·hd) → out(T, nH·hd).
 * probs (probsLength: nH rows of Tp × Tp, row t of head h at (h·Tp + t)·Tp) keeps the softmax
 * for the backward. With `starts` (packed documents), row t attends to starts[t]..t only: a
 * block-diagonal causal mask. The backward reads only row t's starts[t]..t, which is all a
 * caller may rely on: this reference writes 0 elsewhere, the kernels leave most of it as it was.
 */
export function attention(out: Arr, probs: Arr, q: Arr, k: Arr, v: Arr, T: number, nH: number, nKv: number, hd: number, starts: ArrayLike<number> | null = null): void {
  const group = nH / nKv, qDim = nH * hd, kvDim = nKv * hd, scale = 1 / Math.sqrt(hd), Tp = (T + 3) & ~3;
  out.fill(0, 0, T * qDim);
  probs.fill(0, 0, probsLength(T, nH));
  for (let h = 0; h < nH; h++) {
    const g = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      const p = (h * Tp + t) * Tp, s0 = starts ? starts[t]! : 0;
      let max = -Infinity;
      for (let s = s0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[t * qDim + h * hd + i]! * k[s * kvDim + g * hd + i]!;
        probs[p + s] = dot * scale;
        if (dot * scale > max) max = dot * scale;
      }
      let sum = 0;
      for (let s = s0; s <= t; s++) sum += probs[p + s] = Math.exp(probs[p + s]! - max);
      for (let s = s0; s <= t; s++) {
        const a = (probs[p + s] = probs[p + s]! / sum);
        for (let i = 0; i < hd; i++) out[t * qDim + h * hd + i] = out[t * qDim + h * hd + i]! + (a * v[s * kvDim + g * hd + i]!);
      }
    }
  }
}

/** Backward of attention: accumulates dq, dk, dv from dout using the stored probs (probsLength, and the same `starts`). */
export function attentionBackward(dq: Arr, dk: Arr, dv: Arr, dout: Arr, probs: Arr, q: Arr, k: Arr, v: Arr, T: number, nH: number, nKv: number, hd: number, starts: ArrayLike<number> | null = null): void {
  const group = nH / nKv, qDim = nH * hd, kvDim = nKv * hd, scale = 1 / Math.sqrt(hd), Tp = (T + 3) & ~3;
  const dp = new Float64Array(T);
  for (let h = 0; h < nH; h++) {
    const g = Math.floor(h / group);
    for (let t = 0; t < T; t++) {
      const p = (h * Tp + t) * Tp, s0 = starts ? starts[t]! : 0;
      // dP[s] = dout·v[s];  dv[s] += P[s]·dout
      let dot = 0;
      for (let s = s0; s <= t; s++) {
        let d = 0;
        const a = probs[p + s]!;
        for (let i = 0; i < hd; i++) {
          const go = dout[t * qDim + h * hd + i]!;
          d += go * v[s * kvDim + g * hd + i]!;
          dv[s * kvDim + g * hd + i] = dv[s * kvDim + g * hd + i]! + a * go;
        }
        dp[s] = d;
        dot += a * d;
      }
      // softmax backward: dS = P ⊙ (dP − P·dP), then through the scaled dot product
      for (let s = s0; s <= t; s++) {
        const ds = probs[p + s]! * (dp[s]! - dot) * scale;
        if (ds === 0) continue;
        for (let i = 0; i < hd; i++) {
          dq[t * qDim + h * hd + i] = dq[t * qDim + h * hd + i]! + (ds * k[s * kvDim + g * hd + i]!);
          dk[s * kvDim + g * hd + i] = dk[s * kvDim + g * hd + i]! + (ds * q[t * qDim + h * hd + i]!);
        }
      }
    }
  }
}

/** SwiGLU: out = silu(gate) ⊙ up over n values. */
export function swiglu(out: Arr, gate: Arr, up: Arr, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** Backward of swiglu: dgate += dout·up·silu'(gate), dup += dout·silu(gate). */
export function swigluBackward(dgate: Arr, dup: Arr, dout: Arr, gate: Arr, up: Arr, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!, sg = 1 / (1 + Math.exp(-g));
    dgate[i] = dgate[i]! + (dout[i]! * up[i]! * sg * (1 + g * (1 - sg)));
    dup[i] = dup[i]! + dout[i]! * g * sg;
  }
}

/**
 * Mean cross-entropy of logits(T,V) against targets (−1 = ignored); writes dlogits = ∂loss/∂logits
 * scaled by `gradScale` (1/accumulation steps). Returns the summed loss and the counted targets.
 */
export function crossEntropy(dlogits: Arr | null, logits: Arr, targets: ArrayLike<number>, T: number, V: number, gradScale = 1): { sum: number; count: number } {
  let count = 0;
  for (let t = 0; t < T; t++) if (targets[t]! >= 0) count++;
  let sum = 0;
  for (let t = 0; t < T; t++) {
    const o = t * V, y = targets[t]!;
    if (y < 0) {
      if (dlogits) dlogits.fill(0, o, o + V);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j]! > max) max = logits[o + j]!;
    let z = 0;
    for (let j = 0; j < V; j++) z += Math.exp(logits[o + j]! - max);
    sum += Math.log(z) + max - logits[o + y]!;
    if (dlogits) {
      const c = gradScale / count;
      for (let j = 0; j < V; j++) dlogits[o + j] = (Math.exp(logits[o + j]! - max) / z) * c;
      dlogits[o + y] = dlogits[o + y]! - c;
    }
  }
  return { sum, count };
}

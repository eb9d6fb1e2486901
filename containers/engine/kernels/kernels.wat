;; The engine's hot loops in WebAssembly SIMD (f32x4), hand-written so they read next to their
;; TypeScript references in ops.ts. Built by kernels/build.ts (wabt) into kernels.wasm, which is
;; committed; kernels.test.ts rebuilds it and checks the bytes, and checks every kernel against
;; ops.ts. Arguments are byte offsets into the shared memory the host passes in, row-major fp32,
;; with the same shapes as ops.ts; n, d need not be multiples of 4 (scalar tails).
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; Math.exp from the host: softmax then matches ops.ts to the last bit of the exponent
  (import "env" "exp" (func $exp (param f64) (result f64)))

  ;; horizontal sum of the four lanes
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; out(T,d) = x(T,n) · w(d,n)ᵀ. Four rows of w at a time: each x vector loaded once feeds four
  ;; multiply-adds, and the four rows stay in cache across all T rows of x.
  (func (export "matmul") (param $out i32) (param $x i32) (param $w i32) (param $T i32) (param $n i32) (param $d i32)
    (local $i i32) (local $t i32) (local $j i32) (local $nb i32) (local $n4 i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $xt i32) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $xv v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32) (local $xs f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))                          ;; bytes per row
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))  ;; bytes in whole vectors
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.gt_s (i32.add (local.get $i) (i32.const 3)) (i32.sub (local.get $d) (i32.const 1))))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))))
        (local.set $w1 (i32.add (local.get $w0) (local.get $nb)))
        (local.set $w2 (i32.add (local.get $w1) (local.get $nb)))
        (local.set $w3 (i32.add (local.get $w2) (local.get $nb)))
        (local.set $t (i32.const 0))
        (block $ts_done
          (loop $ts
            (br_if $ts_done (i32.ge_s (local.get $t) (local.get $T)))
            (local.set $xt (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $j (i32.const 0))
            (block $vec_done
              (loop $vec
                (br_if $vec_done (i32.ge_s (local.get $j) (local.get $n4)))
                (local.set $xv (v128.load (i32.add (local.get $xt) (local.get $j))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $w0) (local.get $j))) (local.get $xv))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $w1) (local.get $j))) (local.get $xv))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $w2) (local.get $j))) (local.get $xv))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $w3) (local.get $j))) (local.get $xv))))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $vec)))
            (local.set $s0 (call $hsum (local.get $a0)))
            (local.set $s1 (call $hsum (local.get $a1)))
            (local.set $s2 (call $hsum (local.get $a2)))
            (local.set $s3 (call $hsum (local.get $a3)))
            (block $tail_done
              (loop $tail
                (br_if $tail_done (i32.ge_s (local.get $j) (local.get $nb)))
                (local.set $xs (f32.load (i32.add (local.get $xt) (local.get $j))))
                (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (i32.add (local.get $w0) (local.get $j))) (local.get $xs))))
                (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $w1) (local.get $j))) (local.get $xs))))
                (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $w2) (local.get $j))) (local.get $xs))))
                (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $w3) (local.get $j))) (local.get $xs))))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $tail)))
            (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (f32.store offset=0 (local.get $o) (local.get $s0))
            (f32.store offset=4 (local.get $o) (local.get $s1))
            (f32.store offset=8 (local.get $o) (local.get $s2))
            (f32.store offset=12 (local.get $o) (local.get $s3))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $ts)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))
    ;; the d % 4 leftover rows, one dot product each
    (block $left_done
      (loop $left
        (br_if $left_done (i32.ge_s (local.get $i) (local.get $d)))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))))
        (local.set $t (i32.const 0))
        (block $lt_done
          (loop $lt
            (br_if $lt_done (i32.ge_s (local.get $t) (local.get $T)))
            (f32.store
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2)))
              (call $dot (local.get $w0) (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))) (local.get $n)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $lt)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $left))))

  ;; Σ a[j]·b[j] over n floats (one vector accumulator, scalar tail)
  (func $dot (param $a i32) (param $b i32) (param $n i32) (result f32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $acc v128) (local $s f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $j))) (v128.load (i32.add (local.get $b) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (local.set $s (call $hsum (local.get $acc)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (i32.add (local.get $a) (local.get $j))) (f32.load (i32.add (local.get $b) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; y[j] += g0·a0[j] + g1·a1[j] + g2·a2[j] + g3·a3[j] over n floats: the shared inner loop of
  ;; both backward products (rows a0..a3 are 'stride' bytes apart; pass g1..g3 = 0 for fewer rows).
  (func $axpy4 (param $y i32) (param $a0 i32) (param $stride i32) (param $g0 f32) (param $g1 f32) (param $g2 f32) (param $g3 f32) (param $n i32)
    (local $j i32) (local $n4 i32) (local $nb i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $a1 (i32.add (local.get $a0) (local.get $stride)))
    (local.set $a2 (i32.add (local.get $a1) (local.get $stride)))
    (local.set $a3 (i32.add (local.get $a2) (local.get $stride)))
    (local.set $v0 (f32x4.splat (local.get $g0)))
    (local.set $v1 (f32x4.splat (local.get $g1)))
    (local.set $v2 (f32x4.splat (local.get $g2)))
    (local.set $v3 (f32x4.splat (local.get $g3)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (block $done
      (loop $vec
        (br_if $done (i32.ge_s (local.get $j) (local.get $n4)))
        (v128.store (i32.add (local.get $y) (local.get $j))
          (f32x4.add (v128.load (i32.add (local.get $y) (local.get $j)))
            (f32x4.add
              (f32x4.add (f32x4.mul (local.get $v0) (v128.load (i32.add (local.get $a0) (local.get $j))))
                         (f32x4.mul (local.get $v1) (v128.load (i32.add (local.get $a1) (local.get $j)))))
              (f32x4.add (f32x4.mul (local.get $v2) (v128.load (i32.add (local.get $a2) (local.get $j))))
                         (f32x4.mul (local.get $v3) (v128.load (i32.add (local.get $a3) (local.get $j))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vec)))
    (block $tdone
      (loop $tail
        (br_if $tdone (i32.ge_s (local.get $j) (local.get $nb)))
        (f32.store (i32.add (local.get $y) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $y) (local.get $j)))
            (f32.add
              (f32.add (f32.mul (local.get $g0) (f32.load (i32.add (local.get $a0) (local.get $j))))
                       (f32.mul (local.get $g1) (f32.load (i32.add (local.get $a1) (local.get $j)))))
              (f32.add (f32.mul (local.get $g2) (f32.load (i32.add (local.get $a2) (local.get $j))))
                       (f32.mul (local.get $g3) (f32.load (i32.add (local.get $a3) (local.get $j))))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $tail))))

  ;; dx(T,n) += dy(T,d) · w(d,n): for each row t, four rows of w at a time.
  (func (export "matmul_dx") (param $dx i32) (param $dy i32) (param $w i32) (param $T i32) (param $n i32) (param $d i32)
    (local $t i32) (local $i i32) (local $nb i32) (local $g i32) (local $xrow i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (block $ts_done
      (loop $ts
        (br_if $ts_done (i32.ge_s (local.get $t) (local.get $T)))
        (local.set $xrow (i32.add (local.get $dx) (i32.mul (local.get $t) (local.get $nb))))
        (local.set $i (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (call $axpy4 (local.get $xrow) (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))) (local.get $nb)
              (f32.load offset=0 (local.get $g)) (f32.load offset=4 (local.get $g)) (f32.load offset=8 (local.get $g)) (f32.load offset=12 (local.get $g)) (local.get $n))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $rows)))
        (block $left_done
          (loop $left
            (br_if $left_done (i32.ge_s (local.get $i) (local.get $d)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            ;; one row: the other three rows get weight 0 and point at row i itself (in bounds)
            (call $axpy4 (local.get $xrow) (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $nb))) (i32.const 0)
              (f32.load (local.get $g)) (f32.const 0) (f32.const 0) (f32.const 0) (local.get $n))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $left)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $ts))))

  ;; dw(d,n) += dy(T,d)ᵀ · x(T,n): for each row i of dw, four rows of x at a time.
  (func (export "matmul_dw") (param $dw i32) (param $dy i32) (param $x i32) (param $T i32) (param $n i32) (param $d i32)
    (local $t i32) (local $i i32) (local $nb i32) (local $db i32) (local $g i32) (local $wrow i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $db (i32.shl (local.get $d) (i32.const 2)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $i) (local.get $d)))
        (local.set $wrow (i32.add (local.get $dw) (i32.mul (local.get $i) (local.get $nb))))
        (local.set $t (i32.const 0))
        (block $ts_done
          (loop $ts
            (br_if $ts_done (i32.gt_s (i32.add (local.get $t) (i32.const 4)) (local.get $T)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (call $axpy4 (local.get $wrow) (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))) (local.get $nb)
              (f32.load (local.get $g))
              (f32.load (i32.add (local.get $g) (local.get $db)))
              (f32.load (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 2))))
              (f32.load (i32.add (local.get $g) (i32.mul (local.get $db) (i32.const 3))))
              (local.get $n))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (br $ts)))
        (block $left_done
          (loop $left
            (br_if $left_done (i32.ge_s (local.get $t) (local.get $T)))
            (local.set $g (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $d)) (local.get $i)) (i32.const 2))))
            (call $axpy4 (local.get $wrow) (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $nb))) (i32.const 0)
              (f32.load (local.get $g)) (f32.const 0) (f32.const 0) (f32.const 0) (local.get $n))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $left)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; One decode row of causal grouped-query attention over its KV cache (model.ts forward):
  ;; q (nH·hd) at $q, keys and values of positions 0..pos at $k and $v (kvDim = nKv·hd floats
  ;; per position), $scores (pos+1 floats) scratch, out (nH·hd) at $out. hd % 4 == 0.
  (func (export "attend") (param $out i32) (param $q i32) (param $k i32) (param $v i32) (param $scores i32) (param $pos i32) (param $nH i32) (param $nKv i32) (param $hd i32)
    (local $h i32) (local $t i32) (local $i i32) (local $hb i32) (local $kvb i32) (local $qo i32) (local $ko i32) (local $oo i32)
    (local $scale f32) (local $dot f32) (local $max f32) (local $sum f64) (local $e f64) (local $a v128) (local $group i32)
    (local.set $hb (i32.shl (local.get $hd) (i32.const 2)))
    (local.set $kvb (i32.mul (local.get $nKv) (local.get $hb)))
    (local.set $group (i32.div_u (local.get $nH) (local.get $nKv)))
    (local.set $scale (f32.div (f32.const 1) (f32.sqrt (f32.convert_i32_u (local.get $hd)))))
    (block $heads_done
      (loop $heads
        (br_if $heads_done (i32.ge_u (local.get $h) (local.get $nH)))
        (local.set $qo (i32.add (local.get $q) (i32.mul (local.get $h) (local.get $hb))))
        (local.set $ko (i32.mul (i32.div_u (local.get $h) (local.get $group)) (local.get $hb)))
        (local.set $oo (i32.add (local.get $out) (i32.mul (local.get $h) (local.get $hb))))
        ;; scores[t] = q·k[t] / √hd, and their max
        (local.set $max (f32.const -inf))
        (local.set $t (i32.const 0))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.gt_s (local.get $t) (local.get $pos)))
            (local.set $dot (f32.mul (call $dot (local.get $qo) (i32.add (i32.add (local.get $k) (i32.mul (local.get $t) (local.get $kvb))) (local.get $ko)) (local.get $hd)) (local.get $scale)))
            (f32.store (i32.add (local.get $scores) (i32.shl (local.get $t) (i32.const 2))) (local.get $dot))
            (local.set $max (f32.max (local.get $max) (local.get $dot)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $s)))
        ;; softmax numerators and their sum (in f64, as the TS path)
        (local.set $sum (f64.const 0))
        (local.set $t (i32.const 0))
        (block $e_done
          (loop $ex
            (br_if $e_done (i32.gt_s (local.get $t) (local.get $pos)))
            (local.set $e (call $exp (f64.promote_f32 (f32.sub (f32.load (i32.add (local.get $scores) (i32.shl (local.get $t) (i32.const 2)))) (local.get $max)))))
            (f32.store (i32.add (local.get $scores) (i32.shl (local.get $t) (i32.const 2))) (f32.demote_f64 (local.get $e)))
            (local.set $sum (f64.add (local.get $sum) (local.get $e)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $ex)))
        ;; out = Σ_t (scores[t] / sum) · v[t]
        (local.set $i (i32.const 0))
        (block $z_done
          (loop $z
            (br_if $z_done (i32.ge_u (local.get $i) (local.get $hb)))
            (v128.store (i32.add (local.get $oo) (local.get $i)) (v128.const i32x4 0 0 0 0))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $z)))
        (local.set $t (i32.const 0))
        (block $v_done
          (loop $vs
            (br_if $v_done (i32.gt_s (local.get $t) (local.get $pos)))
            (local.set $a (f32x4.splat (f32.demote_f64 (f64.div (f64.promote_f32 (f32.load (i32.add (local.get $scores) (i32.shl (local.get $t) (i32.const 2))))) (local.get $sum)))))
            (local.set $i (i32.const 0))
            (block $vi_done
              (loop $vi
                (br_if $vi_done (i32.ge_u (local.get $i) (local.get $hb)))
                (v128.store (i32.add (local.get $oo) (local.get $i))
                  (f32x4.add (v128.load (i32.add (local.get $oo) (local.get $i)))
                    (f32x4.mul (local.get $a) (v128.load (i32.add (i32.add (i32.add (local.get $v) (i32.mul (local.get $t) (local.get $kvb))) (local.get $ko)) (local.get $i))))))
                (local.set $i (i32.add (local.get $i) (i32.const 16)))
                (br $vi)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $vs)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $heads))))

  ;; BGMV (lora.ts addLoraDelta) for a whole batch in one call: for each row b, table entry b
  ;; (16 bytes: A offset, B offset, rank r, scale f32; r = 0 means no adapter on this row) gives
  ;; out[b] += scale · B·(A·x[b]), with A (r,n), B (d,r); $mid holds r floats of scratch.
  (func (export "lora_rows") (param $out i32) (param $x i32) (param $table i32) (param $rows i32) (param $n i32) (param $d i32) (param $mid i32)
    (local $b i32) (local $e i32) (local $pA i32) (local $pB i32) (local $r i32) (local $scale f32)
    (local $k i32) (local $i i32) (local $xb i32) (local $ob i32) (local $rb i32) (local $o i32)
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $b) (local.get $rows)))
        (local.set $e (i32.add (local.get $table) (i32.shl (local.get $b) (i32.const 4))))
        (local.set $r (i32.load offset=8 (local.get $e)))
        (if (i32.ne (local.get $r) (i32.const 0))
          (then
            (local.set $pA (i32.load offset=0 (local.get $e)))
            (local.set $pB (i32.load offset=4 (local.get $e)))
            (local.set $scale (f32.load offset=12 (local.get $e)))
            (local.set $xb (i32.add (local.get $x) (i32.mul (local.get $b) (i32.shl (local.get $n) (i32.const 2)))))
            (local.set $ob (i32.add (local.get $out) (i32.mul (local.get $b) (i32.shl (local.get $d) (i32.const 2)))))
            (local.set $rb (i32.shl (local.get $r) (i32.const 2)))
            ;; mid = scale · A·x[b]
            (local.set $k (i32.const 0))
            (block $k_done
              (loop $kl
                (br_if $k_done (i32.ge_u (local.get $k) (local.get $r)))
                (f32.store (i32.add (local.get $mid) (i32.shl (local.get $k) (i32.const 2)))
                  (f32.mul (call $dot (i32.add (local.get $pA) (i32.mul (local.get $k) (i32.shl (local.get $n) (i32.const 2)))) (local.get $xb) (local.get $n)) (local.get $scale)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $kl)))
            ;; out[b] += B·mid
            (local.set $i (i32.const 0))
            (block $i_done
              (loop $il
                (br_if $i_done (i32.ge_u (local.get $i) (local.get $d)))
                (local.set $o (i32.add (local.get $ob) (i32.shl (local.get $i) (i32.const 2))))
                (f32.store (local.get $o) (f32.add (f32.load (local.get $o)) (call $dot (i32.add (local.get $pB) (i32.mul (local.get $i) (local.get $rb))) (local.get $mid) (local.get $r))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $il)))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))
)

;; The content of a JSON string token, 16 bytes at a time (WebAssembly SIMD): the string loop of
;; the batch line reader (batch-line-scan.ts), where a batch upload's lines spend most of their
;; bytes. Compiled by `npm run build:wasm` into json-string.wasm.ts, which a unit test holds to
;; this file.
;;
;; The caller copies the line into `memory` from offset 0 and leaves at least 16 bytes of the
;; memory after it: a load may read up to 15 bytes past `$end`, which are never taken for the
;; string's.
(module
  (memory (export "memory") 17)

  ;; The string whose content starts at `$i` (just after its opening quote) and must end before
  ;; `$end`: the offset of its closing quote times two, plus 1 if it has an escape; -1 if it is
  ;; not a JSON string (a control byte, an escape JSON does not have, or no closing quote). The
  ;; same contract, and the same answers, as the JavaScript loop `stringEndInJs`.
  (func (export "stringEnd") (param $i i32) (param $end i32) (result i32)
    (local $v v128)
    (local $hits i32)
    (local $c i32)
    (local $escaped i32)
    (loop $scan
      (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i32.const -1))))
      ;; One bit per byte that ends a run of plain characters: '"', '\' or below 0x20.
      (local.set $v (v128.load (local.get $i)))
      (local.set $hits
        (i8x16.bitmask
          (v128.or
            (v128.or
              (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))
              (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92)))
            (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32)))))
      (if (i32.eqz (local.get $hits))
        (then
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $scan)))
      (local.set $i (i32.add (local.get $i) (i32.ctz (local.get $hits))))
      (if (i32.ge_u (local.get $i) (local.get $end)) (then (return (i32.const -1))))
      (local.set $c (i32.load8_u (local.get $i)))
      (if (i32.eq (local.get $c) (i32.const 34))
        (then (return (i32.or (i32.shl (local.get $i) (i32.const 1)) (local.get $escaped)))))
      (if (i32.lt_u (local.get $c) (i32.const 32)) (then (return (i32.const -1))))
      ;; A backslash: \uXXXX, or one of " \ / b f n r t.
      (local.set $escaped (i32.const 1))
      (if (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $end))
        (then (return (i32.const -1))))
      (local.set $c (i32.load8_u offset=1 (local.get $i)))
      (if (i32.eq (local.get $c) (i32.const 117))
        (then
          (if (i32.ge_u (i32.add (local.get $i) (i32.const 5)) (local.get $end))
            (then (return (i32.const -1))))
          (if (i32.eqz (call $hex4 (i32.add (local.get $i) (i32.const 2))))
            (then (return (i32.const -1))))
          (local.set $i (i32.add (local.get $i) (i32.const 6)))
          (br $scan)))
      (if (i32.or
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
              (i32.or (i32.eq (local.get $c) (i32.const 47)) (i32.eq (local.get $c) (i32.const 98))))
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 102)) (i32.eq (local.get $c) (i32.const 110)))
              (i32.or (i32.eq (local.get $c) (i32.const 114)) (i32.eq (local.get $c) (i32.const 116)))))
        (then
          (local.set $i (i32.add (local.get $i) (i32.const 2)))
          (br $scan)))
      (return (i32.const -1)))
    (unreachable))

  ;; 1 if the four bytes at `$at` are hex digits, else 0.
  (func $hex4 (param $at i32) (result i32)
    (local $k i32)
    (local $c i32)
    (block $bad
      (loop $next
        (local.set $c (i32.load8_u (i32.add (local.get $at) (local.get $k))))
        ;; Neither 0-9 nor a-f / A-F.
        (br_if $bad
          (i32.and
            (i32.ge_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10))
            (i32.ge_u (i32.sub (i32.or (local.get $c) (i32.const 32)) (i32.const 97)) (i32.const 6))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $k) (i32.const 4))))
      (return (i32.const 1)))
    (i32.const 0)))

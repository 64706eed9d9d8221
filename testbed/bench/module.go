package bench

// HelloModule returns a tiny WASI module, assembled here from its parts so
// that `skiff bench` needs no Go toolchain and no file on the device. Its
// _start writes "hello from skiff\n" to stdout with fd_write and returns
// (exit code 0). It is the smallest honest workload: the figures measure
// Skiff's path, not the guest.
func HelloModule() []byte {
	msg := []byte("hello from skiff\n")
	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	// Types: 0 = fd_write (i32 i32 i32 i32) -> i32; 1 = _start () -> ().
	m = append(m, section(1, []byte{0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00})...)
	// Import wasi_snapshot_preview1.fd_write as function 0.
	imp := []byte{0x01}
	imp = append(imp, name("wasi_snapshot_preview1")...)
	imp = append(imp, name("fd_write")...)
	imp = append(imp, 0x00, 0x00)
	m = append(m, section(2, imp)...)
	// One function (index 1) of type 1.
	m = append(m, section(3, []byte{0x01, 0x01})...)
	// One memory of one page.
	m = append(m, section(5, []byte{0x01, 0x00, 0x01})...)
	// Export memory and _start.
	exp := []byte{0x02}
	exp = append(exp, name("memory")...)
	exp = append(exp, 0x02, 0x00)
	exp = append(exp, name("_start")...)
	exp = append(exp, 0x00, 0x01)
	m = append(m, section(7, exp)...)
	// _start: fd_write(1, iovs=0, iovs_len=1, nwritten=8); drop.
	body := []byte{0x00, 0x41, 0x01, 0x41, 0x00, 0x41, 0x01, 0x41, 0x08, 0x10, 0x00, 0x1a, 0x0b}
	code := append([]byte{0x01}, uleb(len(body))...)
	m = append(m, section(10, append(code, body...))...)
	// Data: the iovec {ptr 16, len} at 0 and the message at 16.
	data := []byte{0x02}
	data = append(data, 0x00, 0x41, 0x00, 0x0b, 0x08, 16, 0, 0, 0, byte(len(msg)), 0, 0, 0)
	data = append(data, 0x00, 0x41, 16, 0x0b)
	data = append(data, uleb(len(msg))...)
	data = append(data, msg...)
	m = append(m, section(11, data)...)
	return m
}

func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(len(content))...), content...)
}

func name(s string) []byte { return append(uleb(len(s)), s...) }

func uleb(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

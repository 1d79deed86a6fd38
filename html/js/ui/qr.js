// ui/qr: draws a QR code of a text into a <canvas>, with the vendored qrcode-generator (MIT,
// html/vendor/qrcode-generator.LICENSE.txt).

import qrcode from '../../vendor/qrcode-generator.mjs';

// Draws @text into @canvas, @size CSS pixels square, dark on white with a quiet zone.
export function drawQr(canvas, text, size = 200) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  const quiet = 4;
  const scale = Math.max(1, Math.floor((size * (window.devicePixelRatio || 1)) / (count + 2 * quiet)));
  const px = (count + 2 * quiet) * scale;
  canvas.width = px;
  canvas.height = px;
  canvas.style.width = `${size}px`;
  canvas.style.height = `${size}px`;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, px, px);
  ctx.fillStyle = '#000';
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < count; c++) {
      if (qr.isDark(r, c)) ctx.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
    }
  }
  canvas.dataset.text = text;
}

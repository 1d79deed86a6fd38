// ui/chat: the chat panel's log: messages, reactions, notices and file transfers with progress.
// Everything from other people is set with textContent.

import { $ } from '../ui.js';

const fmtSize = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`);

function item(cls) {
  const li = document.createElement('li');
  li.className = cls;
  $('chat-log').append(li);
  li.scrollIntoView({ block: 'end' });
  return li;
}

function time() {
  return new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// A message from @who (or from "You" when @mine).
export function addMessage(who, text, mine = false) {
  const li = item(mine ? 'msg mine' : 'msg');
  li.dataset.testid = 'chat-message';
  const head = document.createElement('span');
  head.className = 'who';
  head.textContent = `${mine ? 'You' : who} · ${time()}`;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(head, body);
}

// A line such as "Ann joined" or "Ann reacted 👍".
export function addNotice(text) {
  const li = item('notice');
  li.dataset.testid = 'chat-notice';
  li.textContent = text;
}

// Shows or updates the entry of transfer @t (see chat.js). @who is the other person's name.
export function showTransfer(t, who) {
  let li = document.querySelector(`li[data-transfer="${CSS.escape(t.id + t.direction + t.peer)}"]`);
  if (!li) {
    li = item(t.direction === 'out' ? 'file mine' : 'file');
    li.dataset.transfer = t.id + t.direction + t.peer;
    li.dataset.testid = 'chat-file-entry';
    const head = document.createElement('span');
    head.className = 'who';
    head.textContent = `${t.direction === 'out' ? `You → ${who}` : who} · ${time()}`;
    const name = document.createElement('span');
    name.className = 'text';
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    const status = document.createElement('span');
    status.className = 'status muted small';
    status.dataset.testid = 'file-status';
    li.append(head, name, bar, status);
  }
  li.dataset.status = t.status;
  li.querySelector('.text').textContent = `📎 ${t.name} (${fmtSize(t.size)})`;
  const pct = t.size ? Math.min(100, Math.round((100 * t.done) / t.size)) : 100;
  const bar = li.querySelector('progress');
  bar.value = pct;
  bar.setAttribute('aria-label', `${t.name}: ${pct}%`);
  const status = li.querySelector('.status');
  switch (t.status) {
    case 'waiting': status.textContent = 'Waiting…'; break;
    case 'sending': status.textContent = `Sending… ${pct}%`; break;
    case 'sent': status.textContent = 'Sent'; break;
    case 'receiving': status.textContent = `Receiving… ${pct}%`; break;
    case 'received': {
      bar.hidden = true;
      status.textContent = 'Received, checksum verified. ';
      if (!li.querySelector('a')) {
        const a = document.createElement('a');
        a.href = URL.createObjectURL(t.blob);
        a.download = t.name;
        a.textContent = 'Save';
        a.dataset.testid = 'file-download';
        status.append(a);
      }
      break;
    }
    default: status.textContent = `Failed: ${t.error ?? 'unknown error'}`;
  }
}

// The step-up dialog: before an approval goes through, the approver proves themselves again with
// a TOTP code or a security key. Resolves with the proof, or undefined when they cancel.
import type { Api, Session } from './api.js';
import { h, replace } from './dom.js';
import { getAssertion } from './webauthn.js';

export type StepUp =
  { method: 'totp'; code: string } | { method: 'webauthn'; response: Record<string, unknown> };

export function askStepUp(api: Api, session: Session, action: string): Promise<StepUp | undefined> {
  return new Promise((resolve) => {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const codeInput = h('input', {
      name: 'code',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      maxlength: 6,
      placeholder: '123456',
      'aria-label': 'authenticator code',
    });
    const dialog: HTMLDialogElement = h('dialog', { class: 'stepup', 'aria-labelledby': 'stepup-title' });
    let settled = false;
    const finish = (proof: StepUp | undefined) => {
      if (settled) return;
      settled = true;
      dialog.close();
      dialog.remove();
      resolve(proof);
    };
    const useKey = async () => {
      error.textContent = '';
      try {
        const options = await api.post<Record<string, unknown>>('/api/webauthn/stepup/options');
        finish({ method: 'webauthn', response: await getAssertion(options) });
      } catch (cause) {
        error.textContent = cause instanceof Error ? cause.message : 'the security key did not answer';
      }
    };
    const totpForm = h(
      'form',
      {
        class: 'stepup-totp',
        // Checked below, with a message that says what is wrong.
        novalidate: true,
        on: {
          submit: (event) => {
            event.preventDefault();
            const code = codeInput.value.replace(/\s/g, '');
            if (!/^\d{6}$/.test(code)) {
              error.textContent = 'enter the 6-digit code from your authenticator app';
              return;
            }
            finish({ method: 'totp', code });
          },
        },
      },
      h('label', null, 'Authenticator code', codeInput),
      h('button', { type: 'submit', class: 'primary' }, 'Confirm'),
    );
    const none = !session.factors.totp && !session.factors.webauthn;
    replace(
      dialog,
      h('h2', { id: 'stepup-title' }, 'Confirm it is you'),
      h('p', null, `${action} needs step-up authentication.`),
      session.factors.totp ? totpForm : null,
      session.factors.webauthn
        ? h(
            'button',
            { type: 'button', class: 'primary', on: { click: () => void useKey() } },
            'Use security key',
          )
        : null,
      none
        ? h(
            'p',
            { class: 'form-error' },
            'no second factor is enrolled for you: enrol a TOTP app or a security key on the Account page',
          )
        : null,
      error,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', on: { click: () => finish(undefined) } }, 'Cancel'),
      ),
    );
    dialog.addEventListener('cancel', () => finish(undefined));
    document.body.append(dialog);
    dialog.showModal();
    if (session.factors.totp) codeInput.focus();
  });
}

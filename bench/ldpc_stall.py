import numpy as np, time, sys
from bench.phy import LDPC_SNR, RATES, K, _noisy_llrs, _threshold
from m3e.phy.ldpc import LdpcEncoder, LdpcDecoder
from m3e.phy.modulation import Constellation
blocks=int(sys.argv[1]) if len(sys.argv)>1 else 400
stalls=(0,2,3,4,6)
for (mod, rate), snrs in LDPC_SNR.items():
    const=Constellation(mod); enc=LdpcEncoder(K,RATES[rate],qm=const.q)
    decs={s:LdpcDecoder(enc,stall=s) for s in stalls}
    rng=np.random.default_rng(7)
    bl={s:[] for s in stalls}; its={s:[] for s in stalls}; tm={s:0.0 for s in stalls}
    for snr in [snrs[0]-1.0]+snrs:
        u,llr=_noisy_llrs(enc,const,snr,blocks,rng)
        for s,d in decs.items():
            t=time.perf_counter(); r=d(llr); tm[s]+=time.perf_counter()-t
            bl[s].append(float(np.mean(np.any(r.bits!=u,axis=1)))); its[s].append(float(r.iterations.mean()))
    print(mod,rate, "snrs", [snrs[0]-1.0]+snrs)
    for s in stalls:
        th=_threshold(snrs, bl[s][1:])
        print(f"  stall {s}: thr {th:.3f} bler {[round(b,3) for b in bl[s]]} iters {[round(i,1) for i in its[s]]} time {tm[s]:.2f}s")
